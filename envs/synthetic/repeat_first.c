/* repeat_first(num_decks): name the suit of the first card, at every step.
 * Definition: POPGym RepeatFirst (popgym/envs/repeat_first.py):
 *   a deck of 52 * num_decks cards is shuffled; reset deals one card and
 *   shows its suit (the first suit). At each step the reward is
 *   +1/(num_cards - 1) if the action equals the first suit, else
 *   -1/(num_cards - 1); then one card is dealt and its suit is the next
 *   observation. The episode ends after the step that deals the last card
 *   (num_cards - 1 steps), so the best return is 1.
 * Differences from POPGym, about representation only: the suit is observed
 *   one-hot (obs dim 4), and the end is flagged `terminated` where POPGym
 *   says `truncated` (the game has no continuation to bootstrap).
 * Options: num_decks (default 1; POPGym medium 8, hard 16). Success: return 1. */
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "envs/synthetic/deck.h"
#include "envs/synthetic/synthetic.h"

typedef struct {
    int first_suit;
    tm_deck deck;
    tm_rng rng;
} repeat_first;

static int deal_and_show(tm_deck *d, float *obs) {
    int suit = tm_deck_value(tm_deck_deal(d), TM_DECK_SUITS);
    memset(obs, 0, sizeof *obs * 4);
    obs[suit] = 1.0f;
    return suit;
}

static void rf_seed(void *self, uint64_t seed) {
    repeat_first *e = self;
    tm_rng_seed(&e->rng, seed, 0);
}

static tm_status rf_reset(void *self, float *obs) {
    repeat_first *e = self;
    tm_deck_reset(&e->deck, &e->rng);
    e->first_suit = deal_and_show(&e->deck, obs);
    return TM_OK;
}

static tm_status rf_step(void *self, const void *action, float *obs, float *reward,
                         int *terminated, int *truncated) {
    repeat_first *e = self;
    int32_t a;
    memcpy(&a, action, sizeof a);
    float scale = 1.0f / (float)(e->deck.num_cards - 1);
    int last = e->deck.remaining == 1;
    *reward = a == e->first_suit ? scale : -scale;
    deal_and_show(&e->deck, obs);
    *terminated = last;
    *truncated = 0;
    return TM_OK;
}

static void rf_destroy(void *self) {
    repeat_first *e = self;
    tm_deck_free(&e->deck);
    free(e);
}

static const tm_env_vtable rf_vtable = {rf_seed, rf_reset, rf_step, rf_destroy};

tm_status tm_repeat_first_create(tm_env *env, const char *const *options, int n_options) {
    static const char *const known[] = {"num_decks", NULL};
    const char *name = "repeat_first";
    int num_decks = 1;
    TM_TRY(tm_env_options_check(name, options, n_options, known));
    TM_TRY(tm_env_option_int(&num_decks, name, options, n_options, "num_decks", 1, 1024));
    repeat_first *e = calloc(1, sizeof *e);
    if (!e) return tm_fail(TM_ENOMEM, "env %s: out of memory", name);
    tm_status st = tm_deck_create(&e->deck, num_decks);
    if (st != TM_OK) {
        free(e);
        return st;
    }
    tm_rng_seed(&e->rng, 0, 0);
    tm_env_spec spec = {.obs_dim = 4, .action_kind = TM_ACTION_DISCRETE, .act_dim = 1,
                        .n_actions = 4, .max_episode_steps = e->deck.num_cards - 1,
                        .has_success = 1, .success_return = 1.0f};
    st = tm_env_init(env, &rf_vtable, e, &spec, name);
    if (st != TM_OK) rf_destroy(e);
    return st;
}
