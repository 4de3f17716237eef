/* hearth-fleet report: the fleet report from the database, as JSON or as
 * the HTML page `run --report-listen` serves (docs/fleet.md "Report"), from
 * SQLite or PostgreSQL (a read-only session). */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "fleet.h"
#include "hearth/util.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: hearth-fleet report --db FILE|postgresql://... (--json | --html) [--out FILE]\n");
}

/* Declared here: main.c's table is the only other place that names it. */
int fleet_cmd_report(int argc, char **argv);
int fleet_cmd_report(int argc, char **argv)
{
    const char *dbpath = NULL, *outpath = NULL;
    int html = -1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--json") == 0) {
            html = 0;
        } else if (strcmp(argv[i], "--html") == 0) {
            html = 1;
        } else if (strcmp(argv[i], "--db") == 0 && i + 1 < argc) {
            dbpath = argv[++i];
        } else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
            outpath = argv[++i];
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (dbpath == NULL || html < 0) {
        usage(stderr);
        return 2;
    }
    fleet_db *db = NULL;
    fleet_buf b;
    fleet_buf_init(&b, FLEET_REPORT_MAX);
    hearth_status st = fleet_db_open(dbpath, true, &db);
    if (st == HEARTH_OK)
        st = html ? fleet_report_html(db, hearth_time_now(), &b) : fleet_report_json(db, hearth_time_now(), &b);
    fleet_db_close(db);
    if (st == HEARTH_OK) {
        if (outpath != NULL)
            st = hearth_fs_write_atomic(outpath, b.p, b.len, 0644);
        else if (fwrite(b.p, 1, b.len, stdout) != b.len || fflush(stdout) != 0)
            st = hearth_err(HEARTH_ERR_IO, "cannot write the report");
    }
    fleet_buf_free(&b);
    if (st != HEARTH_OK) {
        fprintf(stderr, "hearth-fleet report: %s\n", hearth_err_msg());
        return 1;
    }
    return 0;
}
