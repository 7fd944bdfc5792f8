/*
 * work.c - the worker pools, and serve_post(): running a function on the
 * main thread from any thread (a locked list and a libevent user event;
 * libevent is set up for threads in serve.c).
 *
 * Two pools: the main one signs, stores and serves the API; a small one
 * only checks passwords (scrypt, ~0.1-0.2 s each), so that password
 * guessing can slow logins but never accepted mail or the API.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "serve/engine.h"

typedef struct post {
    serve_fn fn;
    void *arg;
    struct post *next;
} post;

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
    void *domains_state;        /* domains.c's per-worker signers and zones */
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
    /* serve_post */
    pthread_mutex_t post_lock;
    post *post_head, *post_tail;
    struct event *post_ev;
};

int64_t serve_now(void)
{
    return (int64_t)time(NULL);
}

int64_t serve_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t serve_mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

hd_store *worker_store(worker *w)
{
    return w->store;
}

static void run_posts(evutil_socket_t fd, short what, void *arg)
{
    struct serve_work *wk = arg;
    pthread_mutex_lock(&wk->post_lock);
    post *p = wk->post_head;
    wk->post_head = wk->post_tail = NULL;
    pthread_mutex_unlock(&wk->post_lock);
    while (p) {
        post *next = p->next;
        p->fn(p->arg);
        free(p);
        p = next;
    }
}

void serve_post(serve *sv, serve_fn fn, void *arg)
{
    struct serve_work *wk = sv->work;
    post *p = malloc(sizeof *p);
    if (!p) {
        /* cannot queue: run nothing rather than lose track silently */
        LOG_ERR("out of memory posting to the main thread");
        abort();
    }
    *p = (post){fn, arg, NULL};
    pthread_mutex_lock(&wk->post_lock);
    if (wk->post_tail)
        wk->post_tail->next = p;
    else
        wk->post_head = p;
    wk->post_tail = p;
    pthread_mutex_unlock(&wk->post_lock);
    event_active(wk->post_ev, EV_READ, 0);
}

static void pool_add(pool *pl, void (*fn)(worker *w, void *arg), serve_fn done, void *arg)
{
    job *j = malloc(sizeof *j);
    if (!j) {
        LOG_ERR("out of memory queueing work");
        abort();
    }
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
    pthread_mutex_init(&wk->post_lock, NULL);
    wk->post_ev = event_new(sv->base, -1, 0, run_posts, wk);
    if (!wk->post_ev)
        return hd_err_set(err, HD_ENOMEM, "out of memory");
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
        pthread_join(pl->workers[i].thread, NULL);
        worker_domains_free(&pl->workers[i]);
        hd_store_close(pl->workers[i].store);
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

/* After work_stop and commit_stop: no thread can serve_post any more. */
void work_free(serve *sv)
{
    struct serve_work *wk = sv->work;
    if (!wk)
        return;
    /* posts left behind belong to sessions that are gone with the loop */
    post *p = wk->post_head;
    while (p) {
        post *next = p->next;
        free(p);
        p = next;
    }
    if (wk->post_ev)
        event_free(wk->post_ev);
    pool_free(&wk->main);
    pool_free(&wk->auth);
    pthread_mutex_destroy(&wk->post_lock);
    free(wk);
    sv->work = NULL;
}

void **worker_domains_slot(worker *w)
{
    return &w->domains_state;
}
