/* libFuzzer harness for the config parser: arbitrary bytes as a JSON config
 * file or as a --set assignment, applied to tm_run_config (core/config.c,
 * core/run_config.c). Definition of what must hold: core/config.h.
 *
 * Besides "no crash, no ASan/UBSan report", it checks the parser's
 * promises: a rejected input leaves the struct exactly as it was; an
 * accepted one leaves a config that serializes and parses back to itself.
 * A violated promise aborts, so libFuzzer reports it with the input.
 *
 * Run: cmake -DTM_FUZZ=ON with clang, then `ctest -L fuzz`. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/run_config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    const tm_config_schema *s = &tm_run_config_schema;
    /* The first byte picks the path; the rest is the text (NUL-terminated). */
    char *text = malloc(size);
    if (!text) return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    tm_run_config cfg, before;
    if (tm_run_config_default(&cfg) != TM_OK) abort();
    memcpy(&before, &cfg, sizeof cfg);
    tm_status st = (data[0] & 1) ? tm_config_set(s, &cfg, text)
                                 : tm_config_apply_json_text(s, &cfg, text, "fuzz");
    if (st != TM_OK) {
        if (memcmp(&before, &cfg, sizeof cfg) != 0) abort(); /* all or nothing */
        if (tm_last_error()[0] == '\0') abort();             /* a failure says why */
    } else {
        char *out = NULL;
        tm_run_config back;
        if (tm_config_to_string(s, &cfg, 0, &out) != TM_OK) abort();
        if (tm_run_config_default(&back) != TM_OK) abort();
        if (tm_config_apply_json_text(s, &back, out, "round trip") != TM_OK) abort();
        if (!tm_config_equal(s, &cfg, &back)) abort();
        free(out);
    }
    free(text);
    return 0;
}
