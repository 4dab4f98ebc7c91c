/* count_recall(num_decks, deck_type): how often has the queried value been dealt?
 * Definition: POPGym CountRecall (popgym/envs/count_recall.py):
 *   two decks of 52 * num_decks cards (values and queries) are shuffled from
 *   one generator, value deck first. Each deal takes one card from each; the
 *   observation is [value, query] of the dealt pair, where a card's value is
 *   its colour, suit or rank (deck_type). counts[v] = how many dealt value
 *   cards had value v (the reset deal included). At each step the answer is
 *   prev_count = counts[query shown in the current observation]; then a new
 *   pair is dealt and counted; reward +1/(num_cards - 1) if the action equals
 *   prev_count, else -1/(num_cards - 1). The episode terminates when the
 *   value deck is empty (num_cards - 1 steps), so the best return is 1.
 * Differences from POPGym, about representation only: value and query are
 *   observed one-hot (obs dim 2 * D, D = 2, 4 or 13 distinct values), and
 *   there are num_cards / D + 1 actions (POPGym has num_cards / D, which
 *   cannot express the largest possible count, all cards of one value).
 * Options: num_decks (default 1), deck_type = colors|suits|ranks (default
 *   colors; POPGym medium is num_decks=2 suits, hard num_decks=4 ranks).
 * Success: return 1. */
#include <stdlib.h>
#include <string.h>

#include "core/rng.h"
#include "envs/synthetic/deck.h"
#include "envs/synthetic/synthetic.h"

typedef struct {
    tm_deck_field field;
    int n_values;  /* D */
    int value, query;
    int *counts;   /* [D] */
    tm_deck value_deck, query_deck;
    tm_rng rng;
} count_recall;

static void deal_pair(count_recall *e, float *obs) {
    e->value = tm_deck_value(tm_deck_deal(&e->value_deck), e->field);
    e->query = tm_deck_value(tm_deck_deal(&e->query_deck), e->field);
    e->counts[e->value]++;
    memset(obs, 0, sizeof *obs * (size_t)(2 * e->n_values));
    obs[e->value] = 1.0f;
    obs[e->n_values + e->query] = 1.0f;
}

static void cr_seed(void *self, uint64_t seed) {
    count_recall *e = self;
    tm_rng_seed(&e->rng, seed, 0);
}

static tm_status cr_reset(void *self, float *obs) {
    count_recall *e = self;
    tm_deck_reset(&e->value_deck, &e->rng);
    tm_deck_reset(&e->query_deck, &e->rng);
    memset(e->counts, 0, sizeof *e->counts * (size_t)e->n_values);
    deal_pair(e, obs);
    return TM_OK;
}

static tm_status cr_step(void *self, const void *action, float *obs, float *reward,
                         int *terminated, int *truncated) {
    count_recall *e = self;
    int32_t a;
    memcpy(&a, action, sizeof a);
    int prev_count = e->counts[e->query];
    float scale = 1.0f / (float)(e->value_deck.num_cards - 1);
    deal_pair(e, obs);
    *reward = a == prev_count ? scale : -scale;
    *terminated = e->value_deck.remaining == 0;
    *truncated = 0;
    return TM_OK;
}

static void cr_destroy(void *self) {
    count_recall *e = self;
    tm_deck_free(&e->value_deck);
    tm_deck_free(&e->query_deck);
    free(e->counts);
    free(e);
}

static const tm_env_vtable cr_vtable = {cr_seed, cr_reset, cr_step, cr_destroy};

tm_status tm_count_recall_create(tm_env *env, const char *const *options, int n_options) {
    static const char *const known[] = {"num_decks", "deck_type", NULL};
    static const char *const types[] = {"colors", "suits", "ranks"};
    const char *name = "count_recall";
    int num_decks = 1;
    tm_deck_field field = TM_DECK_COLORS;
    TM_TRY(tm_env_options_check(name, options, n_options, known));
    TM_TRY(tm_env_option_int(&num_decks, name, options, n_options, "num_decks", 1, 1024));
    const char *type = tm_env_option_get(options, n_options, "deck_type");
    if (type) {
        int found = -1;
        for (int i = 0; i < 3; i++)
            if (strcmp(type, types[i]) == 0) found = i;
        if (found < 0)
            return tm_fail(TM_EINVAL, "env %s: option deck_type must be colors, suits or ranks (got '%s')",
                           name, type);
        field = (tm_deck_field)found;
    }
    count_recall *e = calloc(1, sizeof *e);
    if (!e) return tm_fail(TM_ENOMEM, "env %s: out of memory", name);
    e->field = field;
    e->n_values = tm_deck_field_size(field);
    e->counts = calloc((size_t)e->n_values, sizeof *e->counts);
    tm_status st = e->counts ? TM_OK : tm_fail(TM_ENOMEM, "env %s: out of memory", name);
    if (st == TM_OK) st = tm_deck_create(&e->value_deck, num_decks);
    if (st == TM_OK) st = tm_deck_create(&e->query_deck, num_decks);
    if (st != TM_OK) {
        cr_destroy(e);
        return st;
    }
    tm_rng_seed(&e->rng, 0, 0);
    int num_cards = e->value_deck.num_cards;
    tm_env_spec spec = {.obs_dim = 2 * e->n_values, .action_kind = TM_ACTION_DISCRETE,
                        .act_dim = 1, .n_actions = num_cards / e->n_values + 1,
                        .max_episode_steps = num_cards - 1,
                        .has_success = 1, .success_return = 1.0f};
    st = tm_env_init(env, &cr_vtable, e, &spec, name);
    if (st != TM_OK) cr_destroy(e);
    return st;
}
