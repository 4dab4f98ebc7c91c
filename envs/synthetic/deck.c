/* A shuffled deck of playing cards. See deck.h. */
#include "envs/synthetic/deck.h"

#include <stdlib.h>

tm_status tm_deck_create(tm_deck *d, int num_decks) {
    d->order = NULL;
    if (num_decks <= 0) return tm_fail(TM_EINVAL, "deck: num_decks must be > 0 (got %d)", num_decks);
    d->num_cards = TM_DECK_CARDS * num_decks;
    d->remaining = 0;
    d->order = malloc(sizeof *d->order * (size_t)d->num_cards);
    if (!d->order) return tm_fail(TM_ENOMEM, "deck: cannot allocate %d cards", d->num_cards);
    for (int i = 0; i < d->num_cards; i++) d->order[i] = i;
    return TM_OK;
}

void tm_deck_free(tm_deck *d) {
    if (!d) return;
    free(d->order);
    d->order = NULL;
}

void tm_deck_reset(tm_deck *d, tm_rng *r) {
    /* Shuffle from the identity each time (as POPGym does), so a deck's
     * order depends only on the generator, not on past episodes. */
    for (int i = 0; i < d->num_cards; i++) d->order[i] = i;
    for (int i = d->num_cards - 1; i > 0; i--) {
        int j = (int)tm_rng_below(r, (uint64_t)i + 1);
        int t = d->order[i];
        d->order[i] = d->order[j];
        d->order[j] = t;
    }
    d->remaining = d->num_cards;
}

int tm_deck_deal(tm_deck *d) {
    TM_ASSERT(d->remaining > 0);
    return d->order[--d->remaining];
}

int tm_deck_value(int card, tm_deck_field field) {
    /* POPGym's layout: ranks repeat each of 13 ranks over the 4 suits
     * (rank = (c % 52) / 4), suits cycle (c % 4), colours alternate (c % 2). */
    switch (field) {
    case TM_DECK_COLORS: return card % 2;
    case TM_DECK_SUITS: return card % 4;
    case TM_DECK_RANKS: return (card % TM_DECK_CARDS) / 4;
    }
    return 0;
}

int tm_deck_field_size(tm_deck_field field) {
    switch (field) {
    case TM_DECK_COLORS: return 2;
    case TM_DECK_SUITS: return 4;
    case TM_DECK_RANKS: return 13;
    }
    return 0;
}
