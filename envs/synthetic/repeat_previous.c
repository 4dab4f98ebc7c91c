/* repeat_previous(num_decks, k): name the suit of the card seen k steps ago.
 * Definition: POPGym RepeatPrevious (popgym/envs/repeat_previous.py):
 *   a deck of 52 * num_decks cards is shuffled; reset deals one card and
 *   shows its suit. At each step, before dealing: when at least k cards have
 *   been dealt, the reward is +1/(num_cards - k) if the action equals the suit
 *   of the k-th most recent card (k = 1: the card shown in the current
 *   observation) and -1/(num_cards - k) otherwise (0 while fewer than k were
 *   dealt); then one card is dealt and its suit is the next observation. The
 *   episode ends after the step that deals the last card (num_cards - 1
 *   steps), so the best return is 1.
 * Differences from POPGym, both about representation: the suit is observed
 *   one-hot (obs dim 4) rather than as an integer, and the end is flagged
 *   `terminated` where POPGym says `truncated`: the game has no continuation,
 *   so bootstrapping past it would be wrong.
 * Options: num_decks (default 1), k (default 4, POPGym's easy level;
 *   medium is num_decks=2,k=32, hard num_decks=3,k=64). Success: return 1. */
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "envs/synthetic/deck.h"
#include "envs/synthetic/synthetic.h"

typedef struct {
    int k;
    tm_deck deck;
    tm_rng rng;
} repeat_previous;

static void show_suit(float *obs, int card) {
    memset(obs, 0, sizeof *obs * 4);
    obs[tm_deck_value(card, TM_DECK_SUITS)] = 1.0f;
}

static void rp_seed(void *self, uint64_t seed) {
    repeat_previous *e = self;
    tm_rng_seed(&e->rng, seed, 0);
}

static tm_status rp_reset(void *self, float *obs) {
    repeat_previous *e = self;
    tm_deck_reset(&e->deck, &e->rng);
    show_suit(obs, tm_deck_deal(&e->deck));
    return TM_OK;
}

static tm_status rp_step(void *self, const void *action, float *obs, float *reward,
                         int *terminated, int *truncated) {
    repeat_previous *e = self;
    tm_deck *d = &e->deck;
    int32_t a;
    memcpy(&a, action, sizeof a);
    float scale = 1.0f / (float)(d->num_cards - e->k);
    int dealt = d->num_cards - d->remaining;
    int last = d->remaining == 1;
    float r = 0.0f;
    if (dealt >= e->k) {
        /* Dealt cards sit at order[remaining..]: the most recent first. */
        int card = d->order[d->remaining + e->k - 1];
        r = a == tm_deck_value(card, TM_DECK_SUITS) ? scale : -scale;
    }
    show_suit(obs, tm_deck_deal(d));
    *reward = r;
    *terminated = last;
    *truncated = 0;
    return TM_OK;
}

static void rp_destroy(void *self) {
    repeat_previous *e = self;
    tm_deck_free(&e->deck);
    free(e);
}

static const tm_env_vtable rp_vtable = {rp_seed, rp_reset, rp_step, rp_destroy};

tm_status tm_repeat_previous_create(tm_env *env, const char *const *options, int n_options) {
    static const char *const known[] = {"num_decks", "k", NULL};
    const char *name = "repeat_previous";
    int num_decks = 1, k = 4;
    TM_TRY(tm_env_options_check(name, options, n_options, known));
    TM_TRY(tm_env_option_int(&num_decks, name, options, n_options, "num_decks", 1, 1024));
    int num_cards = TM_DECK_CARDS * num_decks;
    TM_TRY(tm_env_option_int(&k, name, options, n_options, "k", 1, num_cards - 1));
    repeat_previous *e = calloc(1, sizeof *e);
    if (!e) return tm_fail(TM_ENOMEM, "env %s: out of memory", name);
    e->k = k;
    tm_status st = tm_deck_create(&e->deck, num_decks);
    if (st != TM_OK) {
        free(e);
        return st;
    }
    tm_rng_seed(&e->rng, 0, 0);
    tm_env_spec spec = {.obs_dim = 4, .action_kind = TM_ACTION_DISCRETE, .act_dim = 1,
                        .n_actions = 4, .max_episode_steps = num_cards - 1,
                        .has_success = 1, .success_return = 1.0f};
    st = tm_env_init(env, &rp_vtable, e, &spec, name);
    if (st != TM_OK) rp_destroy(e);
    return st;
}
