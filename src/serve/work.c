/*
 * work.c - the worker pool, and serve_post(): running a function on the
 * main thread from any thread (a locked list and a libevent user event;
 * libevent is set up for threads in serve.c).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "serve.h"

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
    pthread_t thread;
    hd_store *store;
    void *domains_state;        /* domains.c's per-worker signers and zones */
};

struct serve_work {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    job *head, *tail;
    bool stop;
    worker *workers;
    unsigned n;
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

void serve_work(serve *sv, void (*fn)(worker *w, void *arg), serve_fn done, void *arg)
{
    struct serve_work *wk = sv->work;
    job *j = malloc(sizeof *j);
    if (!j) {
        LOG_ERR("out of memory queueing work");
        abort();
    }
    *j = (job){fn, done, arg, NULL};
    pthread_mutex_lock(&wk->lock);
    if (wk->tail)
        wk->tail->next = j;
    else
        wk->head = j;
    wk->tail = j;
    pthread_cond_signal(&wk->cond);
    pthread_mutex_unlock(&wk->lock);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    struct serve_work *wk = w->sv->work;
    for (;;) {
        pthread_mutex_lock(&wk->lock);
        while (!wk->head && !wk->stop)
            pthread_cond_wait(&wk->cond, &wk->lock);
        if (!wk->head) {
            pthread_mutex_unlock(&wk->lock);
            break;
        }
        job *j = wk->head;
        wk->head = j->next;
        if (!wk->head)
            wk->tail = NULL;
        pthread_mutex_unlock(&wk->lock);
        j->fn(w, j->arg);
        if (j->done)
            serve_post(w->sv, j->done, j->arg);
        free(j);
    }
    return NULL;
}

int work_start(serve *sv, unsigned n, hd_err *err)
{
    struct serve_work *wk = calloc(1, sizeof *wk);
    if (!wk)
        return hd_err_set(err, HD_ENOMEM, "out of memory");
    sv->work = wk;
    pthread_mutex_init(&wk->lock, NULL);
    pthread_cond_init(&wk->cond, NULL);
    pthread_mutex_init(&wk->post_lock, NULL);
    wk->post_ev = event_new(sv->base, -1, 0, run_posts, wk);
    wk->workers = calloc(n, sizeof *wk->workers);
    if (!wk->post_ev || !wk->workers)
        return hd_err_set(err, HD_ENOMEM, "out of memory");
    char path[4096];
    snprintf(path, sizeof path, "%s/herald.db", sv->data_dir);
    for (unsigned i = 0; i < n; i++) {
        worker *w = &wk->workers[i];
        w->sv = sv;
        int rc = hd_store_open(path, true, &w->store, err);
        if (rc)
            return rc;
        if (pthread_create(&w->thread, NULL, worker_main, w) != 0)
            return hd_err_set(err, HD_EIO, "cannot start a worker thread");
        wk->n++;
    }
    return 0;
}

void work_stop(serve *sv)
{
    struct serve_work *wk = sv->work;
    if (!wk)
        return;
    pthread_mutex_lock(&wk->lock);
    wk->stop = true;
    pthread_cond_broadcast(&wk->cond);
    pthread_mutex_unlock(&wk->lock);
    for (unsigned i = 0; i < wk->n; i++) {
        pthread_join(wk->workers[i].thread, NULL);
        worker_domains_free(&wk->workers[i]);
        hd_store_close(wk->workers[i].store);
    }
    wk->n = 0;
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
    free(wk->workers);
    pthread_mutex_destroy(&wk->lock);
    pthread_cond_destroy(&wk->cond);
    pthread_mutex_destroy(&wk->post_lock);
    free(wk);
    sv->work = NULL;
}

void **worker_domains_slot(worker *w)
{
    return &w->domains_state;
}
