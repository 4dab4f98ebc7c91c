/* Edit distance and "did you mean" ranking. See strsim.h. */
#include "core/strsim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Names compared here are option and key names: short. Longer inputs are
 * cut, which only affects the ranking of absurd queries. */
#define TM_STRSIM_MAX 128

static int min3(int a, int b, int c) {
    int m = a < b ? a : b;
    return m < c ? m : c;
}

int tm_edit_distance(const char *a, const char *b) {
    int n = (int)strnlen(a, TM_STRSIM_MAX), m = (int)strnlen(b, TM_STRSIM_MAX);
    /* Three rows suffice for OSA: the swap looks two rows back. */
    int rows[3][TM_STRSIM_MAX + 1];
    int *prev2 = rows[0], *prev = rows[1], *cur = rows[2];
    for (int j = 0; j <= m; j++) prev[j] = j;
    for (int i = 1; i <= n; i++) {
        cur[0] = i;
        for (int j = 1; j <= m; j++) {
            int cost = a[i - 1] == b[j - 1] ? 0 : 1;
            int d = min3(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost);
            if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
                prev2[j - 2] + 1 < d)
                d = prev2[j - 2] + 1;
            cur[j] = d;
        }
        int *t = prev2;
        prev2 = prev;
        prev = cur;
        cur = t;
    }
    return prev[m];
}

int tm_suggest_score(const char *query, const char *name) {
    int d = tm_edit_distance(query, name);
    const char *dot = strrchr(name, '.');
    if (dot && !strchr(query, '.')) {
        int dl = tm_edit_distance(query, dot + 1) + 1;
        if (dl < d) d = dl;
    }
    return d;
}

int tm_suggest(const char *query, const char *const *names, int n, int max_out, int only_close,
               int *out_idx) {
    int count = 0;
    int scores[16];
    if (max_out > 16) max_out = 16;
    if (max_out <= 0) return 0;
    size_t qlen = strlen(query);
    for (int i = 0; i < n; i++) {
        size_t nlen = strlen(names[i]);
        int limit = (int)((qlen > nlen ? qlen : nlen) / 3);
        if (limit < 2) limit = 2;
        int s = tm_suggest_score(query, names[i]);
        if (only_close && s > limit) continue;
        /* Insertion into the sorted top list; equal scores keep table order. */
        int pos = count;
        while (pos > 0 && scores[pos - 1] > s) pos--;
        if (pos >= max_out) continue;
        int last = count < max_out ? count : max_out - 1;
        for (int k = last; k > pos; k--) {
            scores[k] = scores[k - 1];
            out_idx[k] = out_idx[k - 1];
        }
        scores[pos] = s;
        out_idx[pos] = i;
        if (count < max_out) count++;
    }
    return count;
}

const char *tm_suggest_text(char *buf, size_t cap, const char *query, const char *prefix,
                            const char *const *names, int n, int max_out, int only_close) {
    int idx[16];
    int k = tm_suggest(query, names, n, max_out, only_close, idx);
    if (cap == 0) return buf;
    buf[0] = '\0';
    if (k == 0) return buf;
    size_t used = (size_t)snprintf(buf, cap, " (did you mean ");
    for (int i = 0; i < k && used < cap; i++) {
        const char *sep = i == 0 ? "" : (i == k - 1 ? " or " : ", ");
        used += (size_t)snprintf(buf + used, cap - used, "%s%s%s", sep, prefix, names[idx[i]]);
    }
    if (used < cap) snprintf(buf + used, cap - used, "?)");
    return buf;
}
