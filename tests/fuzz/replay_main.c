/* Corpus replay driver: runs a libFuzzer harness over every file in the
 * directories given on the command line. Used by ctest so every build
 * (including the ASan+UBSan one) replays the stored corpus. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) return -1;
    if (fseek(f, 0, SEEK_END) != 0) { fclose(f); return -1; }
    long n = ftell(f);
    if (n < 0 || n > 16 * 1024 * 1024) { fclose(f); return -1; }
    rewind(f);
    uint8_t *buf = malloc((size_t)n + 1);
    if (buf == NULL) { fclose(f); return -1; }
    size_t got = fread(buf, 1, (size_t)n, f);
    fclose(f);
    LLVMFuzzerTestOneInput(buf, got);
    free(buf);
    return 0;
}

int main(int argc, char **argv)
{
    unsigned long count = 0;
    for (int i = 1; i < argc; i++) {
        DIR *d = opendir(argv[i]);
        if (d == NULL) {
            if (run_file(argv[i]) != 0) { fprintf(stderr, "cannot read %s\n", argv[i]); return 1; }
            count++;
            continue;
        }
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.') continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[i], e->d_name);
            struct stat st;
            if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
            if (run_file(path) != 0) { fprintf(stderr, "cannot read %s\n", path); closedir(d); return 1; }
            count++;
        }
        closedir(d);
    }
    printf("replayed %lu inputs without a crash\n", count);
    return count > 0 ? 0 : 1;
}
