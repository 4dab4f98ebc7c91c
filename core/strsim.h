/* String similarity for "did you mean" suggestions: an unknown config key,
 * option or subcommand is reported with the closest valid names.
 * Definition: shared spec cli.md ("an unknown option or key is an error that
 * names it and lists the close matches"). */
#ifndef TM_STRSIM_H
#define TM_STRSIM_H

#include <stddef.h>

/* Optimal-string-alignment distance: insertions, deletions, substitutions
 * and swaps of two adjacent characters each cost 1 (a swap is the commonest
 * typo: "--stpes"). Case-sensitive. */
int tm_edit_distance(const char *a, const char *b);

/* How far `query` is from candidate `name`, for ranking suggestions: the
 * edit distance, or one more than the distance to the last dotted component
 * of name when that is closer ("lr" is near "optim.lr"). */
int tm_suggest_score(const char *query, const char *name);

/* Writes up to max_out (<= 16) indices of the candidates closest to query
 * into out_idx (best first, ties in table order) and returns how many. With
 * only_close, a candidate counts only when its score is at most a third of
 * the longer string (and at least 2), so "xyz" suggests nothing rather than
 * an arbitrary name; without, the nearest names are always returned. */
int tm_suggest(const char *query, const char *const *names, int n, int max_out, int only_close,
               int *out_idx);

/* Formats the suggestion list for a message into buf: " (did you mean
 * a, b or c?)", with each name preceded by prefix (e.g. "--"), or "" when
 * nothing is close. Returns buf. */
const char *tm_suggest_text(char *buf, size_t cap, const char *query, const char *prefix,
                            const char *const *names, int n, int max_out, int only_close);

#endif
