/* process.c: the standard process_* metrics and multica_build_info, on every service's /metrics. */
#include "mc_common.h"
#include "mc_config.h"
#include "mc_service.h"

#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

enum proc_field { P_CPU, P_RSS, P_VSIZE, P_START, P_FDS, P_MAX_FDS };

/* Seconds since the epoch at which the machine booted (/proc/stat btime); 0 if unknown. */
static double boot_time(void)
{
    FILE *f = fopen("/proc/stat", "r");
    char line[256];
    double bt = 0;
    while (f != NULL && fgets(line, sizeof line, f) != NULL)
        if (sscanf(line, "btime %lf", &bt) == 1)
            break;
    if (f != NULL)
        fclose(f);
    return bt;
}

static double open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    if (d == NULL)
        return 0;
    double n = 0;
    for (struct dirent *e; (e = readdir(d)) != NULL;)
        if (e->d_name[0] != '.')
            n++;
    closedir(d);
    return n - 1; /* the descriptor opendir itself holds */
}

/* One field of /proc/self/stat, read at scrape time (a few microseconds). */
static double proc_value(void *ctx)
{
    enum proc_field which = (enum proc_field)(intptr_t)ctx;
    if (which == P_FDS)
        return open_fds();
    if (which == P_MAX_FDS) {
        struct rlimit rl;
        return getrlimit(RLIMIT_NOFILE, &rl) == 0 ? (double)rl.rlim_cur : 0;
    }
    char buf[1024];
    FILE *f = fopen("/proc/self/stat", "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f != NULL)
        fclose(f);
    buf[n] = '\0';
    /* The command name (field 2) may hold spaces and parentheses: parse after the last ')'. */
    const char *p = strrchr(buf, ')');
    unsigned long long utime, stime, start, vsize;
    long long rss;
    if (p == NULL || sscanf(p + 2,
                            "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %*d %*d %*d "
                            "%*d %*d %*d %llu %llu %lld",
                            &utime, &stime, &start, &vsize, &rss) != 5)
        return 0;
    double ticks = (double)sysconf(_SC_CLK_TCK);
    switch (which) {
    case P_CPU:
        return (double)(utime + stime) / ticks;
    case P_RSS:
        return (double)rss * (double)sysconf(_SC_PAGESIZE);
    case P_VSIZE:
        return (double)vsize;
    case P_START:
        return boot_time() + (double)start / ticks;
    default:
        return 0;
    }
}

void mc_service_register_process_metrics(void)
{
    static bool done;
    if (done)
        return;
    done = true;
    char labels[256];
    snprintf(labels, sizeof labels, "version=\"%s\",commit=\"%s\"", mc_version(),
             mc_version_commit());
    mc_metric_set(mc_gauge("multica_build_info",
                           "Always 1; the labels name the version and commit of this binary.",
                           labels),
                  1);
    mc_counter_fn("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
                  NULL, proc_value, (void *)(intptr_t)P_CPU);
    mc_gauge_fn("process_resident_memory_bytes", "Resident memory size in bytes.", NULL, proc_value,
                (void *)(intptr_t)P_RSS);
    mc_gauge_fn("process_virtual_memory_bytes", "Virtual memory size in bytes.", NULL, proc_value,
                (void *)(intptr_t)P_VSIZE);
    mc_gauge_fn("process_start_time_seconds",
                "Start time of the process since unix epoch in seconds.", NULL, proc_value,
                (void *)(intptr_t)P_START);
    mc_gauge_fn("process_open_fds", "Number of open file descriptors.", NULL, proc_value,
                (void *)(intptr_t)P_FDS);
    mc_gauge_fn("process_max_fds", "Maximum number of open file descriptors.", NULL, proc_value,
                (void *)(intptr_t)P_MAX_FDS);
}
