/*
 * work.c - the worker pools: threads taking jobs from a list, each with a
 * database connection of its own and the state other files keep per
 * worker (slots, freed by the destructor given with them).
 *
 * Two pools: the main one signs, stores and serves the API; a small one
 * only checks passwords (scrypt, ~0.1-0.2 s each), so that password
 * guessing can slow logins but never accepted mail or the API.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "serve/engine.h"

typedef struct job {
    void (*fn)(worker *w, void *arg);
    serve_fn done;
    void *arg;
    struct job *next;
} job;

struct worker {
    serve *sv;
    struct pool *pool;
    pthread_t thread;
    hd_store *store;
    void *slot[WORKER_SLOTS];   /* per-worker state of other files (domains.c) */
    void (*slot_free[WORKER_SLOTS])(void *state);
};

/* Threads taking jobs from one list. */
typedef struct pool {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    job *head, *tail;
    bool stop;
    worker *workers;
    unsigned n;
} pool;

struct serve_work {
    pool main, auth;
};

hd_store *worker_store(worker *w)
{
    return w->store;
}

static void pool_add(pool *pl, void (*fn)(worker *w, void *arg), serve_fn done, void *arg)
{
    job *j = serve_xmalloc(sizeof *j, "queueing work");
    *j = (job){fn, done, arg, NULL};
    pthread_mutex_lock(&pl->lock);
    if (pl->tail)
        pl->tail->next = j;
    else
        pl->head = j;
    pl->tail = j;
    pthread_cond_signal(&pl->cond);
    pthread_mutex_unlock(&pl->lock);
}

void serve_work(serve *sv, void (*fn)(worker *w, void *arg), serve_fn done, void *arg)
{
    pool_add(&sv->work->main, fn, done, arg);
}

void serve_work_auth(serve *sv, void (*fn)(worker *w, void *arg), serve_fn done, void *arg)
{
    pool_add(&sv->work->auth, fn, done, arg);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    pool *pl = w->pool;
    for (;;) {
        pthread_mutex_lock(&pl->lock);
        while (!pl->head && !pl->stop)
            pthread_cond_wait(&pl->cond, &pl->lock);
        if (!pl->head) {
            pthread_mutex_unlock(&pl->lock);
            break;
        }
        job *j = pl->head;
        pl->head = j->next;
        if (!pl->head)
            pl->tail = NULL;
        pthread_mutex_unlock(&pl->lock);
        j->fn(w, j->arg);
        if (j->done)
            serve_post(w->sv, j->done, j->arg);
        free(j);
    }
    return NULL;
}

static int pool_start(serve *sv, pool *pl, unsigned n, hd_err *err)
{
    pthread_mutex_init(&pl->lock, NULL);
    pthread_cond_init(&pl->cond, NULL);
    if (!(pl->workers = calloc(n, sizeof *pl->workers)))
        return hd_err_set(err, HD_ENOMEM, "out of memory");
    char path[4096];
    snprintf(path, sizeof path, "%s/herald.db", sv->data_dir);
    for (unsigned i = 0; i < n; i++) {
        worker *w = &pl->workers[i];
        w->sv = sv;
        w->pool = pl;
        int rc = hd_store_open(path, true, &w->store, err);
        if (rc)
            return rc;
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
            hd_store_close(w->store);
            return hd_err_set(err, HD_EIO, "cannot start a worker thread");
        }
        pl->n++;
    }
    return 0;
}

int work_start(serve *sv, unsigned n, unsigned n_auth, hd_err *err)
{
    struct serve_work *wk = calloc(1, sizeof *wk);
    if (!wk)
        return hd_err_set(err, HD_ENOMEM, "out of memory");
    sv->work = wk;
    int rc = pool_start(sv, &wk->main, n, err);
    return rc ? rc : pool_start(sv, &wk->auth, n_auth, err);
}

static void pool_stop(pool *pl)
{
    pthread_mutex_lock(&pl->lock);
    pl->stop = true;
    pthread_cond_broadcast(&pl->cond);
    pthread_mutex_unlock(&pl->lock);
    for (unsigned i = 0; i < pl->n; i++) {
        worker *w = &pl->workers[i];
        pthread_join(w->thread, NULL);
        for (int s = 0; s < WORKER_SLOTS; s++)
            if (w->slot[s] && w->slot_free[s])
                w->slot_free[s](w->slot[s]);
        hd_store_close(w->store);
    }
    pl->n = 0;
}

void work_stop(serve *sv)
{
    struct serve_work *wk = sv->work;
    if (!wk)
        return;
    pool_stop(&wk->auth);
    pool_stop(&wk->main);
}

static void pool_free(pool *pl)
{
    /* jobs left behind (none after pool_stop: workers drain the list) */
    free(pl->workers);
    pthread_mutex_destroy(&pl->lock);
    pthread_cond_destroy(&pl->cond);
}

/* After work_stop. */
void work_free(serve *sv)
{
    struct serve_work *wk = sv->work;
    if (!wk)
        return;
    pool_free(&wk->main);
    pool_free(&wk->auth);
    free(wk);
    sv->work = NULL;
}

void *worker_slot_get(worker *w, worker_slot s)
{
    return w->slot[s];
}

void worker_slot_set(worker *w, worker_slot s, void *state, void (*free_fn)(void *state))
{
    w->slot[s] = state;
    w->slot_free[s] = free_fn;
}
