/* fuzz_config.c: config files (shared/config.c) with options of every type;
 * the input is the file, read through a memfd. */
#include "shared/config.h"
#include "tests/fuzz/fuzz.h"

#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("vodq-fuzz-config", MFD_CLOEXEC);
    if (fd < 0)
        return 0;
    if (size && write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    char *str = NULL, *str2 = NULL;
    long long num = 0, any = 0;
    bool flag = false;
    const struct vodq_opt opts[] = {
        {"redis", NULL, VODQ_OPT_STR, "redis://127.0.0.1:6379", "", &str, 0, 0},
        {"queue", NULL, VODQ_OPT_STR, "default", "", &str2, 0, 0},
        {"slots", NULL, VODQ_OPT_INT, "4", "", &num, 0, 10000},
        {"offset", NULL, VODQ_OPT_INT, "0", "", &any, 0, 0},
        {"log-json", NULL, VODQ_OPT_BOOL, "", "", &flag, 0, 0},
    };
    int n = (int)(sizeof(opts) / sizeof(opts[0]));
    char *argv[] = {"vodq-fuzz", "--config", path, NULL};
    int npos = 0;
    bool help = false;
    struct vodq_err err = {0};
    if (vodq_config_load(opts, n, 3, argv, &npos, &help, &err) == VODQ_OK &&
        (!str || !str2 || num < 0 || num > 10000))
        abort();
    vodq_config_free(opts, n);
    close(fd);
    return 0;
}
