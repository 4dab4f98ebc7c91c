/* CPU embedding gather and scatter-add. Definition: kernels/ops_dense.h
 * (tm_op_embedding). The ids are validated by the op layer. */
#ifndef TM_CPU_EMBEDDING_H
#define TM_CPU_EMBEDDING_H

#include <stdint.h>

/* Index of the first id outside [0, V), or -1 when all are valid. */
long tm_cpu_embedding_first_bad_id(const int32_t *ids, long N, int V);
/* out[n,:] = table[ids[n],:]. */
void tm_cpu_embedding_forward(float *out, const int32_t *ids, const float *table, long N, int C);
/* dtable[ids[n],:] += dout[n,:]. */
void tm_cpu_embedding_backward(float *dtable, const float *dout, const int32_t *ids, long N,
                               int C);

#endif
