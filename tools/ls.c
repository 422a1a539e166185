/* ls.c - `mproc ls` and `mproc clean`: list the named mproc objects in
 * /dev/shm, and remove the ones whose creator is dead.
 *
 * Model
 * -----
 * Every named mproc object is a file /dev/shm/mproc-<name> that starts with
 * struct mproc__seg_hdr (src/segment.h): magic, ABI version, kind, sizes,
 * creator pid + start time, creation time. The tool never maps these files:
 * it opens each one read-only (O_NOFOLLOW|O_NONBLOCK|O_CLOEXEC, relative to
 * an fd of the directory), reads the first 128 bytes with pread and trusts
 * nothing it reads until it has been checked against the file's size
 * (mproc__seg_check). A file with the prefix that fails the checks is shown,
 * never interpreted: "foreign" (not mproc's: bad magic, too short, not a
 * regular file), "version" (mproc's, another ABI version: its header layout
 * may differ, so nothing past the version is read), "corrupt" (mproc's, but
 * the sizes disagree with the file), "denied" (we may not open it).
 *
 * Every entry gets one state:
 *   alive    published, its creator (pid + start time) still runs
 *   dead     its creator is gone (the pid is free, a zombie, or now names
 *            another process: the start time differs). Also an unpublished
 *            segment whose dead creator left a complete header (version,
 *            sizes, kind): it died while creating the object
 *   init     not yet published (magic 0) and its creator is alive, or the
 *            creator fields are still zero (the creator is between creating
 *            the file and writing the header)
 *   foreign / version / corrupt / denied as above
 *
 * Liveness is mproc__proc_alive(pid, start): /proc/<pid>/stat, never
 * kill(pid, 0), which is fooled by zombies and reused pids.
 *
 * Clean
 * -----
 * `mproc clean` unlinks exactly the entries in state "dead" that belong to
 * the caller's effective uid and that no live process maps; everything else
 * is left alone. Users are counted from the (dev, inode) columns of every
 * /proc/<pid>/maps the tool may read (count_users); a process that maps
 * the object right after that look keeps its mapping, only the name goes. Between the
 * first look and the unlink another process could remove the dead object
 * and create a new one under the same name, so right before unlinking the
 * tool reads the header again through its own fd, asks again whether the
 * creator is dead, and checks (fstatat, AT_SYMLINK_NOFOLLOW) that the name
 * still refers to the inode it read. A window of a few system calls remains
 * between that check and unlinkat(); closing it would need an unlink-by-fd
 * that Linux does not have. Unlinking removes only the name: processes that
 * already opened the object keep their mappings and keep working.
 *
 * Another directory
 * -----------------
 * --dir DIR looks at DIR instead of /dev/shm: a container's
 * /proc/<pid>/root/dev/shm, a copy, or a test's private directory. Liveness
 * is still judged by this machine's /proc, in the tool's pid namespace, and
 * the per-kind hook is skipped (it finds objects by name in /dev/shm).
 *
 * Per-kind details (the hook)
 * ---------------------------
 * entry_details() is where a kind adds its own live figures. Queues show
 * their statistics through mproc_queue_stats_by_name(), which attaches with
 * the queue's own validation; it is called only for a live queue whose
 * header passed the checks above (a dead creator's queue is not attached:
 * the tool reports it and leaves it to `mproc clean`). A kind without a
 * hook, or a hook that fails, simply adds nothing.
 */
#include "tool.h"

#include "internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

enum entry_state {
    ST_ALIVE,
    ST_DEAD,
    ST_INIT,
    ST_FOREIGN,
    ST_VERSION,
    ST_CORRUPT,
    ST_DENIED,
};

static const char *const state_names[] = {
    "alive", "dead", "init", "foreign", "version", "corrupt", "denied",
};

struct entry {
    char *file;       /* d_name in /dev/shm ("mproc-<name>") */
    const char *name; /* file + the prefix */
    enum entry_state state;
    bool have_hdr;             /* hdr passed mproc__seg_check (or magic 0) */
    struct mproc__seg_hdr hdr; /* valid only if have_hdr */
    uint64_t file_size;
    uid_t uid;
    dev_t dev;
    ino_t ino;
    uint64_t mtime_unix_ns;
    int users;           /* processes that map it; -1: not counted */
    pid_t users_seen_in; /* last pid counted (a pid maps it many times) */
};

struct entry_list {
    struct entry *v;
    size_t n, cap;
};

/* Reading one entry ---------------------------------------------------------*/

static uint64_t now_unix_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* classify - the state of a file from the first bytes read from it and its
 * size. `got` is how many header bytes pread returned. */
static enum entry_state classify(const struct mproc__seg_hdr *h, ssize_t got, uint64_t size,
                                 bool *have_hdr)
{
    *have_hdr = false;
    if (got < (ssize_t)MPROC__SEG_HDR_SIZE || size < MPROC__SEG_HDR_SIZE) {
        /* An empty file may be an object whose creator is between open()
         * and ftruncate(): too young to tell from a stranger's file. */
        return size == 0 ? ST_INIT : ST_FOREIGN;
    }
    uint32_t magic =
        atomic_load_explicit(&((struct mproc__seg_hdr *)h)->magic, memory_order_relaxed);
    if (magic == 0) {
        /* Unpublished: the creator fields are written before the magic, so
         * either they are still zero (creator busy) or they name it. While
         * the creator lives its other fields may still be half written; once
         * it is dead they are final, and they must describe a segment of
         * this file before the entry counts as an abandoned mproc object
         * (a stranger's file that merely starts with zeros stays foreign). */
        if (h->creator_pid <= 0)
            return ST_INIT;
        if (mproc__proc_alive(h->creator_pid, h->creator_start))
            return ST_INIT;
        if (h->version != MPROC__SEG_VERSION || h->hdr_size != MPROC__SEG_HDR_SIZE ||
            h->total_size != size || h->kind == 0 || h->kind > MPROC__SEG_KIND_MAX)
            return ST_FOREIGN;
        *have_hdr = true;
        return ST_DEAD;
    }
    if (magic != MPROC__SEG_MAGIC)
        return ST_FOREIGN;
    if (h->version != MPROC__SEG_VERSION)
        return ST_VERSION;
    int rc = mproc__seg_check(h, (size_t)size, 0);
    if (rc == MPROC_EFOREIGN)
        return ST_FOREIGN;
    if (rc < 0 || h->kind == 0 || h->kind > MPROC__SEG_KIND_MAX || h->creator_pid <= 0)
        return ST_CORRUPT;
    *have_hdr = true;
    return mproc__proc_alive(h->creator_pid, h->creator_start) ? ST_ALIVE : ST_DEAD;
}

/* read_entry - open dname under dirfd and fill e. Returns the open fd (the
 * caller closes it) or -1 when the file could not be opened (e->state says
 * why). e->file is NULL if the file vanished meanwhile or memory ran out
 * (*oom set). */
static int read_entry(int dirfd, const char *dname, struct entry *e, bool *oom)
{
    memset(e, 0, sizeof *e);
    e->users = -1;
    *oom = false;
    /* Only regular files are opened: opening a device or a FIFO someone
     * named with our prefix could have side effects. (If the name is
     * replaced between this look and the open, the fstat below still sees
     * what was opened.) */
    struct stat lst;
    if (fstatat(dirfd, dname, &lst, AT_SYMLINK_NOFOLLOW) != 0)
        return -1;
    if (!S_ISREG(lst.st_mode)) {
        e->uid = lst.st_uid;
        e->mtime_unix_ns =
            (uint64_t)lst.st_mtim.tv_sec * 1000000000ull + (uint64_t)lst.st_mtim.tv_nsec;
        e->state = ST_FOREIGN;
        e->file = strdup(dname);
        *oom = e->file == NULL;
        return -1;
    }
    int fd = openat(dirfd, dname, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return -1;
        int err = errno;
        struct stat st;
        if (fstatat(dirfd, dname, &st, AT_SYMLINK_NOFOLLOW) == 0) {
            e->uid = st.st_uid;
            e->file_size = S_ISREG(st.st_mode) ? (uint64_t)st.st_size : 0;
            e->mtime_unix_ns =
                (uint64_t)st.st_mtim.tv_sec * 1000000000ull + (uint64_t)st.st_mtim.tv_nsec;
        }
        /* ELOOP: a symlink with our prefix is nobody's object. */
        e->state = err == EACCES || err == EPERM ? ST_DENIED : ST_FOREIGN;
        e->file = strdup(dname);
        *oom = e->file == NULL;
        return -1;
    }
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return -1;
    }
    if ((e->file = strdup(dname)) == NULL) {
        *oom = true;
        close(fd);
        return -1;
    }
    e->uid = st.st_uid;
    e->dev = st.st_dev;
    e->ino = st.st_ino;
    e->mtime_unix_ns = (uint64_t)st.st_mtim.tv_sec * 1000000000ull + (uint64_t)st.st_mtim.tv_nsec;
    if (!S_ISREG(st.st_mode)) {
        e->state = ST_FOREIGN;
        return fd;
    }
    e->file_size = (uint64_t)st.st_size;
    ssize_t got;
    do
        got = pread(fd, &e->hdr, sizeof e->hdr, 0);
    while (got < 0 && errno == EINTR);
    e->state = classify(&e->hdr, got, e->file_size, &e->have_hdr);
    if (e->have_hdr)
        e->hdr.name[sizeof e->hdr.name - 1] = '\0';
    else
        memset(&e->hdr, 0, sizeof e->hdr);
    return fd;
}

static int entry_cmp(const void *a, const void *b)
{
    return strcmp(((const struct entry *)a)->file, ((const struct entry *)b)->file);
}

static void entries_free(struct entry_list *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].file);
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

static bool name_selected(const char *name, char **patterns, int npatterns)
{
    if (npatterns == 0)
        return true;
    for (int i = 0; i < npatterns; i++)
        if (fnmatch(patterns[i], name, 0) == 0)
            return true;
    return false;
}

/* scan - read every selected entry of the directory open as dirfd, sorted
 * by name. 0, or a negative code (out of memory, unreadable directory). */
static int scan(int dirfd, char **patterns, int npatterns, struct entry_list *out)
{
    int dfd = fcntl(dirfd, F_DUPFD_CLOEXEC, 0);
    if (dfd < 0)
        return mproc__err();
    DIR *d = fdopendir(dfd);
    if (!d) {
        int rc = mproc__err();
        close(dfd);
        return rc;
    }
    const size_t plen = strlen(MPROC__SHM_PREFIX);
    struct dirent *de;
    int rc = 0;
    while ((de = readdir(d)) != NULL) {
        if (strncmp(de->d_name, MPROC__SHM_PREFIX, plen) != 0)
            continue;
        if (!name_selected(de->d_name + plen, patterns, npatterns))
            continue;
        if (out->n == out->cap) {
            size_t cap = out->cap ? out->cap * 2 : 32;
            struct entry *v = realloc(out->v, cap * sizeof *v);
            if (!v) {
                rc = MPROC_ENOMEM;
                break;
            }
            out->v = v;
            out->cap = cap;
        }
        struct entry *e = &out->v[out->n];
        bool oom;
        int fd = read_entry(dirfd, de->d_name, e, &oom);
        if (fd >= 0)
            close(fd);
        if (oom) {
            free(e->file);
            rc = MPROC_ENOMEM;
            break;
        }
        if (!e->file)
            continue; /* removed while we looked */
        e->name = e->file + plen;
        out->n++;
    }
    closedir(d);
    if (out->n > 1)
        qsort(out->v, out->n, sizeof out->v[0], entry_cmp);
    return rc;
}

/* count_users - for each regular-file entry, how many processes map it,
 * from the (dev, inode) columns of every readable /proc/<pid>/maps (only
 * our own processes unless we are root: the others' maps are not readable,
 * and cannot map a 0600 object of ours anyway). Best effort: a process may
 * map or unmap it right after we looked. */
static void count_users(struct entry_list *l)
{
    DIR *proc = opendir("/proc");
    if (!proc)
        return;
    for (size_t i = 0; i < l->n; i++)
        l->v[i].users = l->v[i].ino ? 0 : -1;
    struct dirent *de;
    char *line = NULL;
    size_t cap = 0;
    while ((de = readdir(proc)) != NULL) {
        char *end;
        long pid = strtol(de->d_name, &end, 10);
        if (*end != '\0' || pid <= 0)
            continue;
        char path[64];
        snprintf(path, sizeof path, "/proc/%ld/maps", pid);
        FILE *f = fopen(path, "re");
        if (!f)
            continue;
        while (getline(&line, &cap, f) > 0) {
            unsigned maj, min;
            unsigned long long ino;
            if (sscanf(line, "%*s %*s %*s %x:%x %llu", &maj, &min, &ino) != 3 || ino == 0)
                continue;
            for (size_t i = 0; i < l->n; i++) {
                struct entry *e = &l->v[i];
                if (e->users < 0 || e->ino != (ino_t)ino || major(e->dev) != maj ||
                    minor(e->dev) != min || e->users_seen_in == (pid_t)pid)
                    continue;
                e->users++;
                e->users_seen_in = (pid_t)pid;
            }
        }
        fclose(f);
    }
    free(line);
    closedir(proc);
}

/* The directory looked at: MPROC__SHM_DIR unless --dir says otherwise
 * (always ending in '/'). */
static char shm_dir[4096] = MPROC__SHM_DIR;

static bool default_dir(void)
{
    return strcmp(shm_dir, MPROC__SHM_DIR) == 0;
}

static int open_shm_dir(void)
{
    return open(shm_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
}

/* Output --------------------------------------------------------------------*/

static void fmt_size(char *buf, size_t n, uint64_t v)
{
    static const char units[] = "KMGTPE";
    if (v < 1024) {
        snprintf(buf, n, "%llu", (unsigned long long)v);
        return;
    }
    double d = (double)v;
    int u = -1;
    while (d >= 1024 && u < 5) {
        d /= 1024;
        u++;
    }
    snprintf(buf, n, d < 10 ? "%.1f%c" : "%.0f%c", d, units[u]);
}

/* entry_details - the per-kind hook (see the design note): writes a short
 * human description into buf (text) or the members of a JSON object (json;
 * without braces), returns false if the kind has nothing to add. */
static bool entry_details(const struct entry *e, bool json, char *buf, size_t bufsz)
{
    switch (e->hdr.kind) {
    case MPROC__SEG_QUEUE: {
        struct mproc_queue_stats st;
        if (e->state != ST_ALIVE || !default_dir() || mproc__name_check(e->name) != 0 ||
            mproc_queue_stats_by_name(e->name, &st) != 0)
            return false;
        if (json) {
            snprintf(buf, bufsz,
                     "\"msgs\":%llu,\"bytes_used\":%llu,\"capacity\":%llu,"
                     "\"high_water\":%llu,\"puts\":%llu,\"gets\":%llu,\"bytes_in\":%llu,"
                     "\"bytes_out\":%llu,\"lost\":%llu,\"waiting_getters\":%u,"
                     "\"waiting_putters\":%u,\"participants\":%u,\"closed\":%s",
                     (unsigned long long)st.msgs, (unsigned long long)st.bytes_used,
                     (unsigned long long)st.capacity, (unsigned long long)st.high_water,
                     (unsigned long long)st.puts, (unsigned long long)st.gets,
                     (unsigned long long)st.bytes_in, (unsigned long long)st.bytes_out,
                     (unsigned long long)st.lost, (unsigned)st.waiting_getters,
                     (unsigned)st.waiting_putters, (unsigned)st.participants,
                     st.closed ? "true" : "false");
        } else {
            char used[16], cap[16];
            fmt_size(used, sizeof used, st.bytes_used);
            fmt_size(cap, sizeof cap, st.capacity);
            snprintf(buf, bufsz, "msgs=%llu used=%s/%s puts=%llu gets=%llu lost=%llu%s",
                     (unsigned long long)st.msgs, used, cap, (unsigned long long)st.puts,
                     (unsigned long long)st.gets, (unsigned long long)st.lost,
                     st.closed ? " closed" : "");
        }
        return true;
    }
    default:
        return false;
    }
}

static const char *entry_kind(const struct entry *e)
{
    if (!e->have_hdr)
        return "-";
    return mproc__seg_kind_name(e->hdr.kind);
}

static uint64_t entry_age_ns(const struct entry *e, uint64_t now)
{
    uint64_t t = e->have_hdr && e->hdr.created_unix_ns ? e->hdr.created_unix_ns : e->mtime_unix_ns;
    return now > t ? now - t : 0;
}

static void fmt_age(char *buf, size_t n, uint64_t ns)
{
    unsigned long long s = (unsigned long long)(ns / 1000000000ull);
    if (s < 60)
        snprintf(buf, n, "%llus", s);
    else if (s < 3600)
        snprintf(buf, n, "%llum%02llus", s / 60, s % 60);
    else if (s < 86400)
        snprintf(buf, n, "%lluh%02llum", s / 3600, s / 60 % 60);
    else
        snprintf(buf, n, "%llud%02lluh", s / 86400, s / 3600 % 24);
}

/* A file name may hold any byte but '/': print the safe ones as they are. */
static void put_text_name(FILE *f, const char *s, int width)
{
    int n = 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++, n++)
        fputc(*p >= 0x20 && *p < 0x7f ? *p : '?', f);
    for (; n < width; n++)
        fputc(' ', f);
}

static void put_json_string(FILE *f, const char *s)
{
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20 || *p >= 0x7f)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static void print_text(FILE *f, const struct entry_list *l)
{
    uint64_t now = now_unix_ns();
    int w = 4;
    for (size_t i = 0; i < l->n; i++) {
        int len = (int)strlen(l->v[i].name);
        if (len > w)
            w = len < 48 ? len : 48;
    }
    fputs("NAME", f);
    fprintf(f, "%*s  %-9s %7s %8s  %-7s %5s %7s\n", w - 4, "", "KIND", "SIZE", "CREATOR", "STATE",
            "USERS", "AGE");
    for (size_t i = 0; i < l->n; i++) {
        const struct entry *e = &l->v[i];
        char size[16], age[24], pid[16], users[16], details[256];
        fmt_size(size, sizeof size, e->file_size);
        fmt_age(age, sizeof age, entry_age_ns(e, now));
        if (e->have_hdr)
            snprintf(pid, sizeof pid, "%d", (int)e->hdr.creator_pid);
        else
            snprintf(pid, sizeof pid, "-");
        if (e->users >= 0)
            snprintf(users, sizeof users, "%d", e->users);
        else
            snprintf(users, sizeof users, "-");
        put_text_name(f, e->name, w);
        fprintf(f, "  %-9s %7s %8s  %-7s %5s %7s", entry_kind(e), size, pid, state_names[e->state],
                users, age);
        if (e->have_hdr && entry_details(e, false, details, sizeof details))
            fprintf(f, "  %s", details);
        fputc('\n', f);
    }
}

static void print_json(FILE *f, const struct entry_list *l)
{
    uint64_t now = now_unix_ns();
    fputs("[", f);
    for (size_t i = 0; i < l->n; i++) {
        const struct entry *e = &l->v[i];
        char details[1024];
        fputs(i ? ",\n  {" : "\n  {", f);
        char path[sizeof shm_dir + 256];
        snprintf(path, sizeof path, "%s%s", shm_dir, e->file);
        fputs("\"name\":", f);
        put_json_string(f, e->name);
        fputs(",\"path\":", f);
        put_json_string(f, path);
        fprintf(f, ",\"state\":\"%s\",\"kind\":\"%s\",\"size\":%llu,\"owner_uid\":%u",
                state_names[e->state], entry_kind(e), (unsigned long long)e->file_size,
                (unsigned)e->uid);
        if (e->have_hdr) {
            fprintf(f,
                    ",\"version\":%u,\"body_size\":%llu,\"creator_pid\":%d,"
                    "\"creator_start\":%llu,\"creator_alive\":%s,\"created_unix_ns\":%llu",
                    (unsigned)e->hdr.version, (unsigned long long)e->hdr.body_size,
                    (int)e->hdr.creator_pid, (unsigned long long)e->hdr.creator_start,
                    e->state == ST_ALIVE || e->state == ST_INIT ? "true" : "false",
                    (unsigned long long)e->hdr.created_unix_ns);
        } else {
            fputs(",\"version\":null,\"body_size\":null,\"creator_pid\":null,"
                  "\"creator_start\":null,\"creator_alive\":null,\"created_unix_ns\":null",
                  f);
        }
        if (e->users >= 0)
            fprintf(f, ",\"users\":%d", e->users);
        else
            fputs(",\"users\":null", f);
        fprintf(f, ",\"age_s\":%.3f", (double)entry_age_ns(e, now) / 1e9);
        if (e->have_hdr && entry_details(e, true, details, sizeof details))
            fprintf(f, ",\"details\":{%s}", details);
        else
            fputs(",\"details\":null", f);
        fputs("}", f);
    }
    fputs(l->n ? "\n]\n" : "]\n", f);
}

/* Commands ------------------------------------------------------------------*/

static void ls_usage(FILE *f)
{
    fputs("usage: mproc ls [--json] [--dir DIR] [PATTERN...]\n"
          "\n"
          "List the named mproc objects in " MPROC__SHM_DIR " (files " MPROC__SHM_PREFIX
          "<name>):\n"
          "name, kind, size, creator pid, state, users (processes that map it, as far\n"
          "as /proc lets us see) and age. PATTERNs (shell globs, quote them) select\n"
          "names; without one every object is listed.\n"
          "\n"
          "STATE is one of:\n"
          "  alive    the creator process still runs\n"
          "  dead     the creator is gone (`mproc clean` removes these)\n"
          "  init     being created right now\n"
          "  foreign  a file with mproc's prefix that is not an mproc object\n"
          "  version  an mproc object of another ABI version\n"
          "  corrupt  an mproc object whose header fails validation\n"
          "  denied   not readable by you\n"
          "\n"
          "options:\n"
          "  --json     one JSON array of objects (sizes in bytes, age in seconds)\n"
          "  --dir DIR  look in DIR instead of " MPROC__SHM_DIR " (a container's\n"
          "             /proc/<pid>/root/dev/shm, a copy, or a test directory)\n"
          "  -h, --help this text\n"
          "\n"
          "exit status: 0 ok, 1 error, 2 usage\n",
          f);
}

static void clean_usage(FILE *f)
{
    fputs("usage: mproc clean [--dry-run] [--dir DIR] [PATTERN...]\n"
          "\n"
          "Remove the named mproc objects whose creator process is dead (state \"dead\"\n"
          "in `mproc ls`) and that belong to you; print each one removed. Objects of a\n"
          "live creator, foreign files and objects in any other state are never\n"
          "touched, and neither is a dead creator's object that a live process still\n"
          "maps (it is reported as kept: run clean again when they are done).\n"
          "PATTERNs (shell globs) restrict which names are looked at.\n"
          "\n"
          "options:\n"
          "  -n, --dry-run  print what would be removed, remove nothing\n"
          "  --dir DIR      look in DIR instead of " MPROC__SHM_DIR "\n"
          "  -h, --help     this text\n"
          "\n"
          "exit status: 0 ok (also when nothing was dead), 1 error, 2 usage\n",
          f);
}

static int run_ls(int argc, char **argv);
static int run_clean(int argc, char **argv);

const struct tool_cmd tool_cmd_ls = {"ls", "list the named mproc objects in " MPROC__SHM_DIR,
                                     ls_usage, run_ls};
const struct tool_cmd tool_cmd_clean = {"clean", "remove named objects whose creator is dead",
                                        clean_usage, run_clean};

/* parse - the options shared by ls and clean. Returns -1 to go on (the
 * PATTERNs start at optind), or the exit status to return. */
static int parse(int argc, char **argv, bool is_clean, bool *flag)
{
    static const struct option ls_opts[] = {{"json", no_argument, NULL, 'j'},
                                            {"dir", required_argument, NULL, 'd'},
                                            {NULL, 0, NULL, 0}};
    static const struct option clean_opts[] = {{"dry-run", no_argument, NULL, 'n'},
                                               {"dir", required_argument, NULL, 'd'},
                                               {NULL, 0, NULL, 0}};
    const struct tool_cmd *cmd = is_clean ? &tool_cmd_clean : &tool_cmd_ls;
    int c;
    while ((c = tool_getopt(cmd, argc, argv, is_clean ? "n" : "",
                            is_clean ? clean_opts : ls_opts)) > 0) {
        switch (c) {
        case 'j':
        case 'n':
            *flag = true;
            break;
        case 'd': {
            size_t len = strlen(optarg);
            if (len == 0 || len + 2 > sizeof shm_dir)
                return tool_usage_error(cmd, "--dir wants a directory name of 1 to %zu bytes",
                                        sizeof shm_dir - 2);
            snprintf(shm_dir, sizeof shm_dir, "%s%s", optarg, optarg[len - 1] == '/' ? "" : "/");
            break;
        }
        default:
            return tool_usage_error(cmd, "unhandled option");
        }
    }
    return c == TOOL_OPT_END ? -1 : tool_status(c);
}

static int run_ls(int argc, char **argv)
{
    bool json = false;
    int rc = parse(argc, argv, false, &json);
    if (rc >= 0)
        return rc;
    int dirfd = open_shm_dir();
    if (dirfd < 0) {
        return tool_error(&tool_cmd_ls, "%s: %s", shm_dir, strerror(errno));
    }
    struct entry_list l = {0};
    rc = scan(dirfd, argv + optind, argc - optind, &l);
    if (rc == 0)
        count_users(&l);
    close(dirfd);
    if (rc < 0) {
        tool_error(&tool_cmd_ls, "%s", mproc_strerror(rc));
        entries_free(&l);
        return 1;
    }
    if (json)
        print_json(stdout, &l);
    else
        print_text(stdout, &l);
    entries_free(&l);
    return fflush(stdout) == 0 ? 0 : 1;
}

/* still_dead - the last look before unlinking (see the design note): the
 * name must still be the inode we read, and its creator still dead. */
static bool still_dead(int dirfd, const struct entry *e)
{
    struct entry again;
    bool oom;
    int fd = read_entry(dirfd, e->file, &again, &oom);
    bool dead = fd >= 0 && again.state == ST_DEAD && again.dev == e->dev && again.ino == e->ino &&
                again.hdr.creator_pid == e->hdr.creator_pid &&
                again.hdr.creator_start == e->hdr.creator_start;
    if (fd >= 0) {
        struct stat st;
        dead = dead && fstatat(dirfd, e->file, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
               st.st_dev == e->dev && st.st_ino == e->ino;
        close(fd);
    }
    free(again.file);
    return dead;
}

static int run_clean(int argc, char **argv)
{
    bool dry = false;
    int rc = parse(argc, argv, true, &dry);
    if (rc >= 0)
        return rc;
    int dirfd = open_shm_dir();
    if (dirfd < 0) {
        return tool_error(&tool_cmd_clean, "%s: %s", shm_dir, strerror(errno));
    }
    struct entry_list l = {0};
    rc = scan(dirfd, argv + optind, argc - optind, &l);
    if (rc == 0)
        count_users(&l);
    if (rc < 0) {
        tool_error(&tool_cmd_clean, "%s", mproc_strerror(rc));
        entries_free(&l);
        close(dirfd);
        return 1;
    }
    int status = 0, count = 0;
    uid_t me = geteuid();
    for (size_t i = 0; i < l.n; i++) {
        const struct entry *e = &l.v[i];
        if (e->state != ST_DEAD || e->uid != me)
            continue;
        if (e->users > 0) {
            printf("kept %s%s (%s, creator %d dead, still mapped by %d process%s)\n", shm_dir,
                   e->file, entry_kind(e), (int)e->hdr.creator_pid, e->users,
                   e->users == 1 ? "" : "es");
            continue;
        }
        if (!dry) {
            if (!still_dead(dirfd, e))
                continue;
            if (unlinkat(dirfd, e->file, 0) != 0) {
                if (errno == ENOENT)
                    continue; /* someone else cleaned it first */
                tool_error(&tool_cmd_clean, "%s%s: %s", shm_dir, e->file, strerror(errno));
                status = 1;
                continue;
            }
        }
        count++;
        printf("%s %s%s (%s, creator %d dead)\n", dry ? "would remove" : "removed", shm_dir,
               e->file, entry_kind(e), (int)e->hdr.creator_pid);
    }
    printf("%s %d object%s\n", dry ? "would remove" : "removed", count, count == 1 ? "" : "s");
    entries_free(&l);
    close(dirfd);
    if (fflush(stdout) != 0)
        status = 1;
    return status;
}
