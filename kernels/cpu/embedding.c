/* CPU embedding gather and scatter-add. Definition: embedding.h.
 * The scatter-add splits columns across threads: two rows with the same id
 * then never race, and each entry is summed in row order (deterministic). */
#include "kernels/cpu/embedding.h"

#include <string.h>

#define COL_BLOCK 64

long tm_cpu_embedding_first_bad_id(const int32_t *ids, long N, int V) {
    for (long n = 0; n < N; n++)
        if (ids[n] < 0 || ids[n] >= V) return n;
    return -1;
}

void tm_cpu_embedding_forward(float *out, const int32_t *ids, const float *table, long N, int C) {
#pragma omp parallel for schedule(static) if (N * C > 65536)
    for (long n = 0; n < N; n++)
        memcpy(out + n * C, table + (long)ids[n] * C, (size_t)C * sizeof(float));
}

void tm_cpu_embedding_backward(float *dtable, const float *dout, const int32_t *ids, long N,
                               int C) {
    int n_blocks = (C + COL_BLOCK - 1) / COL_BLOCK;
#pragma omp parallel for schedule(static) if (N * C > 65536)
    for (int blk = 0; blk < n_blocks; blk++) {
        int c0 = blk * COL_BLOCK, c1 = c0 + COL_BLOCK < C ? c0 + COL_BLOCK : C;
        for (long n = 0; n < N; n++) {
            float *d = dtable + (long)ids[n] * C;
            const float *g = dout + n * C;
            for (int c = c0; c < c1; c++) d[c] += g[c];
        }
    }
}
