/* tm_rng: statistics, stream independence, reproducibility. */
#include <criterion/criterion.h>
#include <math.h>

#include "core/rng.h"

Test(rng, same_seed_same_sequence) {
    tm_rng a, b;
    tm_rng_seed(&a, 42, 0);
    tm_rng_seed(&b, 42, 0);
    for (int i = 0; i < 1000; i++) cr_assert_eq(tm_rng_u64(&a), tm_rng_u64(&b));
}
