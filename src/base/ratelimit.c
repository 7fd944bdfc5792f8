/*
 * ratelimit.c - one event per key per window (herald/ratelimit.h).
 *
 * A set-associative table of hashed keys: the key's hash picks a set of
 * four slots; a slot holding the hash is its key's, else the slot whose
 * window began longest ago is taken over. Two keys whose 64-bit hashes
 * are equal share a slot, which costs at most a held-back log line.
 */
#include <herald/ratelimit.h>

#include <stdlib.h>

#define WAYS 4

typedef struct slot {
    uint64_t key;   /* 0: free (a hash of 0 is stored as 1) */
    int64_t since;  /* when the window of the last event let through began */
    uint64_t held;  /* events held back since then */
} slot;

struct hd_ratelimit {
    int64_t window_ms;
    size_t n_sets;
    slot *slots; /* n_sets * WAYS */
};

hd_ratelimit *hd_ratelimit_new(size_t slots, int64_t window_ms)
{
    hd_ratelimit *rl = calloc(1, sizeof *rl);
    if (rl == NULL)
        return NULL;
    rl->window_ms = window_ms;
    rl->n_sets = slots / WAYS + (slots % WAYS != 0);
    if (rl->n_sets == 0)
        rl->n_sets = 1;
    rl->slots = calloc(rl->n_sets * WAYS, sizeof *rl->slots);
    if (rl->slots == NULL) {
        free(rl);
        return NULL;
    }
    return rl;
}

void hd_ratelimit_free(hd_ratelimit *rl)
{
    if (rl == NULL)
        return;
    free(rl->slots);
    free(rl);
}

/* FNV-1a over kind, a separator no text holds, and who. */
static uint64_t key_hash(const char *kind, const char *who)
{
    uint64_t h = 14695981039346656037ULL;
    for (const char *p = kind ? kind : ""; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    h = (h ^ 0xffu) * 1099511628211ULL;
    for (const char *p = who ? who : ""; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ULL;
    return h ? h : 1;
}

static slot *find_slot(hd_ratelimit *rl, uint64_t key, bool *fresh)
{
    slot *set = &rl->slots[(key >> 7) % rl->n_sets * WAYS];
    slot *oldest = &set[0];
    for (int i = 0; i < WAYS; i++) {
        if (set[i].key == key) {
            *fresh = false;
            return &set[i];
        }
        if (set[i].key == 0 || (oldest->key != 0 && set[i].since < oldest->since))
            oldest = &set[i];
    }
    *fresh = true;
    return oldest;
}

bool hd_ratelimit_allow(hd_ratelimit *rl, const char *kind, const char *who, int64_t now_ms,
                        uint64_t *held)
{
    uint64_t key = key_hash(kind, who);
    bool fresh;
    slot *s = find_slot(rl, key, &fresh);
    if (!fresh && now_ms >= s->since && now_ms - s->since < rl->window_ms) {
        s->held++;
        return false;
    }
    if (held)
        *held = fresh ? 0 : s->held;
    s->key = key;
    s->since = now_ms;
    s->held = 0;
    return true;
}
