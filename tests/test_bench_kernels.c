/* `transmamba bench kernels` (bench/bench_kernels.c): a quick run prints a
 * table and a last JSON line with the keys of spec cli.md's contract, and
 * bad options are usage errors. Timings themselves are not asserted. */
#include <criterion/criterion.h>
#include <criterion/redirect.h>
#include <stdio.h>
#include <string.h>

#include "bench/bench_kernels.h"

static int run(int argc, char **argv) { return tm_bench_kernels_main(argc, argv); }

Test(bench_kernels, quick_json_run_ends_with_the_contract_keys, .init = cr_redirect_stdout) {
    char *argv[] = {"kernels", "--quick", "--json", "--threads", "1"};
    cr_assert_eq(run(5, argv), 0);
    fflush(stdout);
    FILE *f = cr_get_redirected_stdout();
    char line[8192], last[8192] = "";
    int lines = 0;
    while (fgets(line, sizeof line, f)) {
        lines++;
        strcpy(last, line);
    }
    cr_expect(lines >= 3, "a header, at least one row, then the JSON (%d lines)", lines);
    cr_assert(strncmp(last, "{\"results\":[{", 13) == 0, "last line: %s", last);
    const char *keys[] = {"\"op\":\"matmul\"", "\"device\":\"cpu\"", "\"shape\":", "\"ms\":",
                          "\"achieved\":", "\"unit\":\"GFLOP/s\"", "\"limit_fraction\":",
                          "\"baseline\":\"cblas_sgemm\"", "\"baseline_ms\":", "\"ratio\":"};
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        cr_expect(strstr(last, keys[i]), "missing %s in %s", keys[i], last);
}

Test(bench_kernels, bad_options_and_cuda_are_usage_errors) {
    char *unknown[] = {"kernels", "--devce", "cpu"};
    cr_expect_eq(run(3, unknown), 2);
    char *bad_device[] = {"kernels", "--device=tpu"};
    cr_expect_eq(run(2, bad_device), 2);
    char *bad_threads[] = {"kernels", "--threads", "0"};
    cr_expect_eq(run(3, bad_threads), 2);
    char *cuda[] = {"kernels", "--device", "cuda"};
    cr_expect_eq(run(3, cuda), 2, "no CUDA ops yet: loud, not a silent CPU run");
}
