/* A shuffled deck of playing cards, the randomness behind POPGym's card
 * tasks (repeat_previous, repeat_first, count_recall).
 * Definition: POPGym (Morad et al. 2023), popgym/core/deck.py: num_decks
 * copies of 52 cards; card c has rank c / 4 (13 ranks), suit c % 4 (4 suits)
 * and colour c % 2 (2 colours); a reset shuffles all cards back in; dealing
 * takes cards from the end of the shuffled order. */
#ifndef TM_DECK_H
#define TM_DECK_H

#include "core/rng.h"
#include "core/status.h"

#define TM_DECK_CARDS 52

typedef enum { TM_DECK_COLORS = 0, TM_DECK_SUITS, TM_DECK_RANKS } tm_deck_field;

typedef struct {
    int num_cards; /* 52 * num_decks */
    int remaining; /* cards not yet dealt */
    int *order;    /* [num_cards] shuffled card indices; deal from the end */
} tm_deck;

tm_status tm_deck_create(tm_deck *d, int num_decks);
void tm_deck_free(tm_deck *d);
/* Puts every card back and shuffles (Fisher-Yates with r). */
void tm_deck_reset(tm_deck *d, tm_rng *r);
/* Deals one card; returns its index in [0, num_cards). The deck must not be empty. */
int tm_deck_deal(tm_deck *d);
/* The card's value for a field: colour in [0,2), suit in [0,4), rank in [0,13). */
int tm_deck_value(int card, tm_deck_field field);
/* Distinct values of a field: 2, 4 or 13. */
int tm_deck_field_size(tm_deck_field field);

#endif
