/* queue/part.c - participant records and the per-thread state of a handle.
 *
 * Each (process, thread) that uses a handle owns one record, claimed by CAS
 * on `owner` (pid << 32 | tid) and found again through the handle's pthread
 * key (and a one-entry thread-local cache in front of it, q_tls()). A
 * thread's record is released (its counters folded into the retired totals)
 * at thread exit (key destructor) or handle close. A record whose process
 * died is reclaimed by recover.c.
 *
 * Forks: an entry belongs to the process whose pid it carries. A child
 * finds the parent's entries (through the inherited key, list and cache)
 * and never uses them: the cache is keyed on the fork generation of
 * linux/proc.c, which changes in every child whichever library copy forked,
 * and the slow path compares the entry's pid with the caller's. So a
 * program that holds two copies of the library (a static core and a shared
 * one) still gets one record per process: the pid is the same in both
 * copies, and each copy notices the fork by itself.
 */
#include "queue_internal.h"

#include <stdlib.h>

__thread struct q_last mproc__q_last __attribute__((tls_model("initial-exec")));
static _Atomic uint64_t q_next_id;

static void q_tls_dtor(void *v);

int mproc__q_parts_init(struct mproc_queue *q)
{
    if (pthread_key_create(&q->key, q_tls_dtor) != 0)
        return MPROC_EAGAIN;
    pthread_mutex_init(&q->mu, NULL);
    q->list_pid = mproc__self_pid();
    /* Ids must differ between library copies too (each has its own
     * counter): a random high half, a counter below. */
    uint64_t r = 0;
    (void)mproc__random_bytes(&r, sizeof r);
    q->id = (r << 32) ^ (atomic_fetch_add(&q_next_id, 1) + 1);
    return 0;
}

/* Abandon an outstanding reservation / view of a live thread (close, exit):
 * the message is lost, counted. */
void mproc__q_abandon(struct mproc_queue *q, struct q_tls *t)
{
    if (t->res) {
        t->res = false;
        atomic_fetch_add(&q->h->lost_put, 1);
        q_publish(q, t, t->res_lane, q_lbase(q, t->res_lane), t->res_pos, t->res_k, 0, Q_F_LOST);
    }
    if (t->view) {
        t->view = false;
        atomic_fetch_add(&q->h->lost_get, 1);
        mproc__q_release(q, t->view_lane, t->view_pos, t->view_k);
        atomic_store_explicit(&t->p->get_intent, Q_I_NONE, memory_order_release);
    }
}

static struct q_part *q_part_claim(struct mproc_queue *q)
{
    const struct mproc__self *me = mproc__self();
    uint64_t owner = (uint64_t)(uint32_t)me->pid << 32 | (uint32_t)me->tid;
    for (int round = 0; round < 2; round++) {
        for (unsigned i = 0; i < q->n_parts; i++) {
            struct q_part *p = &q->parts[i];
            uint64_t zero = 0;
            if (atomic_load_explicit(&p->owner, memory_order_relaxed) == 0 &&
                atomic_compare_exchange_strong(&p->owner, &zero, owner)) {
                atomic_store(&p->start, me->start);
                return p;
            }
        }
        mproc__q_recover(q); /* reclaims records of dead processes */
    }
    return NULL;
}

static void q_tls_free(struct mproc_queue *q, struct q_tls *t)
{
    mproc__q_abandon(q, t);
    mproc__q_part_free(q->h, t->p);
    free(t);
}

static void q_tls_dtor(void *v)
{
    struct q_tls *t = v;
    if (t == NULL || t->pid != mproc__self_pid())
        return; /* inherited across fork: the parent's, still on the list */
    struct mproc_queue *q = t->q;
    pthread_mutex_lock(&q->mu);
    for (struct q_tls **pp = &q->tls_list; *pp; pp = &(*pp)->next) {
        if (*pp == t) {
            *pp = t->next;
            break;
        }
    }
    pthread_mutex_unlock(&q->mu);
    q_tls_free(q, t);
}

/* After fork the list holds the parent's threads' entries: forget them
 * (their records belong to the parent). Called with q->mu held. */
static void q_forget_parent(struct mproc_queue *q, pid_t pid)
{
    if (q->list_pid == pid)
        return;
    struct q_tls *t = q->tls_list;
    while (t) {
        struct q_tls *next = t->next;
        free(t);
        t = next;
    }
    q->tls_list = NULL;
    q->list_pid = pid;
}

static struct q_tls *q_tls_cache(struct mproc_queue *q, struct q_tls *t)
{
    mproc__q_last = (struct q_last){q, q->id, mproc__fork_generation(), t};
    return t;
}

struct q_tls *mproc__q_tls_slow(struct mproc_queue *q)
{
    pid_t pid = mproc__self_pid();
    struct q_tls *t = pthread_getspecific(q->key);
    if (t != NULL && t->pid == pid)
        return q_tls_cache(q, t);
    pthread_mutex_lock(&q->mu);
    q_forget_parent(q, pid);
    pthread_mutex_unlock(&q->mu);
    /* my key may still point at an entry inherited (and just freed) */
    pthread_setspecific(q->key, NULL);
    t = calloc(1, sizeof *t);
    if (t == NULL)
        return NULL;
    t->p = q_part_claim(q);
    if (t->p == NULL) {
        free(t);
        return NULL;
    }
    t->q = q;
    t->pid = pid;
    t->me = (uint32_t)(t->p - q->parts) + 1;
    t->glane = t->me % q->n_lanes; /* getters start spread over the lanes */
    pthread_mutex_lock(&q->mu);
    t->next = q->tls_list;
    q->tls_list = t;
    pthread_mutex_unlock(&q->mu);
    pthread_setspecific(q->key, t);
    return q_tls_cache(q, t);
}

/* The lane with the fewest live producers (a look at every record, once
 * per producer thread); ties go to the lane after my record's index, so
 * that producers arriving together spread out. */
void mproc__q_choose_lane(struct mproc_queue *q, struct q_tls *ts)
{
    uint32_t best = 0;
    if (q->n_lanes > 1) {
        uint32_t count[Q_LANES_MAX] = {0};
        for (unsigned i = 0; i < q->n_parts; i++) {
            struct q_part *p = &q->parts[i];
            uint32_t v = atomic_load_explicit(&p->put_lane, memory_order_relaxed);
            if (v == 0 || v > q->n_lanes || p == ts->p)
                continue;
            uint64_t owner = atomic_load_explicit(&p->owner, memory_order_relaxed);
            if (owner != 0 && mproc__q_part_alive(p, owner))
                count[v - 1]++;
        }
        uint32_t start = ts->me % q->n_lanes;
        best = start;
        for (uint32_t j = 1; j < q->n_lanes; j++) {
            uint32_t l = (start + j) % q->n_lanes;
            if (count[l] < count[best])
                best = l;
        }
    }
    atomic_store_explicit(&ts->p->put_lane, best + 1, memory_order_relaxed);
    ts->plane = best;
    ts->pkl = best << 25;
    ts->pdata = q_lbase(q, best);
    ts->pbit = 1ull << best;
    ts->rel_cache = atomic_load(&q->lanes[best].rel);
    ts->pln = &q->lanes[best];
}

void mproc__q_parts_fini(struct mproc_queue *q)
{
    pid_t pid = mproc__self_pid();
    if (mproc__q_last.q == q)
        mproc__q_last.q = NULL;
    pthread_key_delete(q->key);
    pthread_mutex_lock(&q->mu);
    q_forget_parent(q, pid);
    struct q_tls *t = q->tls_list;
    q->tls_list = NULL;
    pthread_mutex_unlock(&q->mu);
    while (t) {
        struct q_tls *next = t->next;
        q_tls_free(q, t);
        t = next;
    }
    pthread_mutex_destroy(&q->mu);
}
