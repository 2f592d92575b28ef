/*
 * leaker.c - a deliberately leaking program: the self-test of the leak
 * policy. Both leak detectors must catch it and the suites must count what
 * they catch as a failure:
 *   - LeakSanitizer in `make check SANITIZE=1` (tests/run-suite.sh builds
 *     this file with -fsanitize=address,undefined and runs it under the
 *     suite's ASAN_OPTIONS, then checks that the report files it counts
 *     appeared);
 *   - valgrind memcheck in `make analyze` (tests/valgrind/run.sh builds it
 *     without sanitizers and checks that memcheck fails the case).
 *
 *   leaker leak [STATUS]   loses 4096 bytes (a definite leak), exits STATUS
 *                          (default 0): with STATUS 1 the leak hides behind
 *                          an expected exit 1, as in the corrupt suite
 *   leaker clean [STATUS]  the control: frees everything, exits STATUS
 *   leaker check           a Check suite whose one test leaks inside the
 *                          forked child (CK_FORK=yes): the report comes from
 *                          the child, not from the process the suite started
 *
 * Kept apart from src/: it tests the test machinery, not the sensor.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Stores through a volatile pointer so that no optimiser drops the malloc. */
static void *volatile keep;

static void lose(size_t n)
{
    keep = malloc(n);
    if (keep) memset(keep, 0xab, n);
    keep = NULL; /* the only pointer is gone: definitely lost */
}

START_TEST(test_leaks_in_child)
{
    lose(4096);
    ck_assert(keep == NULL);
}
END_TEST

static int run_check(void)
{
    Suite *s = suite_create("leaker");
    TCase *tc = tcase_create("leak");
    tcase_add_test(tc, test_leaks_in_child);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_FORK);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    int status = argc > 2 ? atoi(argv[2]) : 0;
    if (strcmp(mode, "leak") == 0) {
        lose(4096);
        return status;
    }
    if (strcmp(mode, "clean") == 0) {
        free(malloc(4096));
        return status;
    }
    if (strcmp(mode, "check") == 0) return run_check();
    fprintf(stderr, "usage: leaker leak|clean [STATUS] | leaker check\n");
    return 2;
}
