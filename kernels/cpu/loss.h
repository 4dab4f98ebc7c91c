/* CPU losses: masked cross-entropy, masked accuracy, MSE. Definition:
 * kernels/ops_dense.h (tm_op_cross_entropy, tm_op_masked_accuracy, tm_op_mse).
 * Targets and mask are validated by the op layer; mask NULL means all ones. */
#ifndef TM_CPU_LOSS_H
#define TM_CPU_LOSS_H

#include <stdint.h>

/* Returns sum_n m_n -log softmax(logits_n)[t_n] / mask_sum (0 when mask_sum
 * is 0); dlogits (may be NULL) is written: m_n / mask_sum (p_n - onehot). */
float tm_cpu_cross_entropy_forward(float *dlogits, const float *logits, const int32_t *targets,
                                   const float *mask, double mask_sum, long N, int V);
/* Mask-weighted fraction of rows whose first argmax equals the target. */
float tm_cpu_masked_accuracy(const float *logits, const int32_t *targets, const float *mask,
                             double mask_sum, long N, int V);
/* Returns mean (pred - target)^2; dpred (may be NULL) is written. */
float tm_cpu_mse_forward(float *dpred, const float *pred, const float *target, long numel);

#endif
