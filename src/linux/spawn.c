/* linux/spawn.c - the spawn start method: re-execute this program and hand
 * the child its entry point, name, argument bytes and objects.
 *
 * Hand-over
 * ---------
 * The parent writes one record into a memfd and seals it (no write, grow or
 * shrink), so the child reads an immutable snapshot:
 *
 *   struct handoff_hdr   magic, version, lengths, parent pid + start time
 *   entry[entry_len]     registered entry name (1..63 bytes, no NUL)
 *   name[name_len]       process name (0..63 bytes, no NUL)
 *   arg[arg_len]         the argument bytes (at most MPROC__SPAWN_ARG_MAX)
 *   objs[n_objs]         handed objects: kind, flags, descriptor number
 *                        (at most MPROC_SPAWN_MAX_OBJECTS)
 *
 * /proc/self/exe is started with posix_spawn(). The memfd is close-on-exec
 * like every mproc fd; a dup2 file action onto its own number clears that
 * flag in this one child only (glibc >= 2.29), so a child forked meanwhile
 * by another thread never inherits it. Its number and the parent's pid go in
 * the environment as MPROC_SPAWN="<fd>:<ppid>". The descriptors of handed
 * objects (fresh close-on-exec copies made for this start) travel the same
 * way, each at its own number.
 *
 * The child (mproc_main -> mproc__spawn_receive) trusts nothing: the
 * variable is parsed strictly, the fd must be a sealed regular file whose
 * size equals the header plus the three lengths, each length is bounded, the
 * parent pid must agree with the variable, names must be printable
 * [A-Za-z0-9_.-], each object's kind and flags must be known and its
 * descriptor open, of the right type (a socket for a Pipe end, a regular
 * file otherwise) and not the record's own; the child sets close-on-exec on
 * them again so its own spawned children do not inherit them. The variable is removed before the entry runs, so the
 * entry's own children do not mistake themselves for spawned ones.
 *
 * The child starts with an empty signal mask (not whatever the spawning
 * thread had blocked). exec resets caught signals by itself; of the ignored
 * ones, SIGPIPE and SIGCHLD are reset to default: an inherited SIG_IGN on
 * SIGCHLD would make the kernel reap the child's own children behind its
 * back. Resetting every signal would cost one sigaction per signal in the
 * child, on the start-up path, for no use (docs/PERFORMANCE.md, "Figures
 * behind the code").
 */
#include "../internal.h"
#include "child.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

extern char **environ;

#define HANDOFF_MAGIC 0x4e505348u /* "HSPN" */
#define HANDOFF_VERSION 2u

struct handoff_hdr {
    uint32_t magic;
    uint32_t version;
    uint32_t entry_len;
    uint32_t name_len;
    uint64_t arg_len;
    int32_t ppid;
    int32_t daemon;
    uint64_t pstart;
    uint32_t n_objs;
    uint32_t reserved;
};

static int write_all(int fd, const void *buf, size_t len, off_t off)
{
    const char *p = buf;
    while (len > 0) {
        ssize_t n = pwrite(fd, p, len, off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return mproc__err();
        }
        p += n;
        len -= (size_t)n;
        off += n;
    }
    return 0;
}

static int read_all(int fd, void *buf, size_t len, off_t off)
{
    char *p = buf;
    while (len > 0) {
        ssize_t n = pread(fd, p, len, off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return mproc__err();
        }
        if (n == 0)
            return MPROC_EPROTO;
        p += n;
        len -= (size_t)n;
        off += n;
    }
    return 0;
}

static int write_record(const struct mproc__handoff *h, int *fd_out)
{
    struct handoff_hdr hdr = {
        .magic = HANDOFF_MAGIC,
        .version = HANDOFF_VERSION,
        .entry_len = (uint32_t)strlen(h->entry),
        .name_len = (uint32_t)strlen(h->name),
        .arg_len = h->arg_len,
        .ppid = h->ppid,
        .daemon = h->daemon,
        .pstart = h->pstart,
        .n_objs = (uint32_t)h->n_objs,
    };
    int fd = memfd_create("mproc-spawn", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0)
        return mproc__err();
    /* Header, entry and name go in one call; the argument may be large and
     * gets its own loop. */
    char head[sizeof hdr + MPROC__ENTRY_NAME_MAX + MPROC__PROC_NAME_MAX];
    size_t head_len = sizeof hdr + hdr.entry_len + hdr.name_len;
    memcpy(head, &hdr, sizeof hdr);
    memcpy(head + sizeof hdr, h->entry, hdr.entry_len);
    memcpy(head + sizeof hdr + hdr.entry_len, h->name, hdr.name_len);
    int rc = write_all(fd, head, head_len, 0);
    if (rc == 0 && h->arg_len > 0)
        rc = write_all(fd, h->arg, h->arg_len, (off_t)head_len);
    if (rc == 0 && h->n_objs > 0)
        rc = write_all(fd, h->objs, h->n_objs * sizeof *h->objs, (off_t)(head_len + h->arg_len));
    if (rc == 0 &&
        fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE | F_SEAL_GROW | F_SEAL_SHRINK | F_SEAL_SEAL) < 0)
        rc = mproc__err();
    if (rc < 0) {
        close(fd);
        return rc;
    }
    *fd_out = fd;
    return 0;
}

/* A copy of environ without any MPROC_SPAWN, plus ours. */
static char **build_env(const char *ours)
{
    size_t n = 0;
    for (char **e = environ; e && *e; e++)
        n++;
    char **env = malloc((n + 2) * sizeof *env);
    if (env == NULL)
        return NULL;
    size_t k = 0;
    size_t plen = strlen(MPROC__SPAWN_ENV);
    for (size_t i = 0; i < n; i++) {
        if (strncmp(environ[i], MPROC__SPAWN_ENV, plen) == 0 && environ[i][plen] == '=')
            continue;
        env[k++] = environ[i];
    }
    env[k++] = (char *)ours;
    env[k] = NULL;
    return env;
}

int mproc__spawn_start(const struct mproc__handoff *h, const char *argv0, pid_t *pid_out)
{
    int fd;
    int rc = write_record(h, &fd);
    if (rc < 0)
        return rc;

    char var[64];
    snprintf(var, sizeof var, "%s=%d:%d", MPROC__SPAWN_ENV, fd, (int)h->ppid);
    char **env = build_env(var);
    char *argv[] = {(char *)argv0, NULL};
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    sigset_t none, reset;
    sigemptyset(&none);
    sigemptyset(&reset);
    sigaddset(&reset, SIGPIPE);
    sigaddset(&reset, SIGCHLD);
    bool fa_ok = false, attr_ok = false;

    if (env == NULL) {
        rc = MPROC_ENOMEM;
        goto out;
    }
    if ((rc = -posix_spawn_file_actions_init(&fa)) != 0)
        goto out;
    fa_ok = true;
    if ((rc = -posix_spawnattr_init(&attr)) != 0)
        goto out;
    attr_ok = true;
    for (size_t i = 0; i < h->n_objs; i++)
        if ((rc = -posix_spawn_file_actions_adddup2(&fa, h->objs[i].fd, h->objs[i].fd)) != 0)
            goto out;
    if ((rc = -posix_spawn_file_actions_adddup2(&fa, fd, fd)) != 0 ||
        (rc = -posix_spawnattr_setsigmask(&attr, &none)) != 0 ||
        (rc = -posix_spawnattr_setsigdefault(&attr, &reset)) != 0 ||
        (rc = -posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF)) !=
            0)
        goto out;
    pid_t pid;
    rc = -posix_spawn(&pid, "/proc/self/exe", &fa, &attr, argv, env);
    if (rc == 0)
        *pid_out = pid;
out:
    if (attr_ok)
        posix_spawnattr_destroy(&attr);
    if (fa_ok)
        posix_spawn_file_actions_destroy(&fa);
    free(env);
    close(fd);
    return rc;
}

static int parse_int(const char *s, char stop, const char **end, long max)
{
    if (*s < '0' || *s > '9')
        return -1;
    long v = 0;
    while (*s >= '0' && *s <= '9') {
        v = v * 10 + (*s - '0');
        if (v > max)
            return -1;
        s++;
    }
    if (*s != stop)
        return -1;
    *end = s;
    return (int)v;
}

bool mproc__entry_name_ok(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '-';
        if (!ok)
            return false;
    }
    return true;
}

/* Process names may hold any printable byte (they are shown, not parsed). */
static bool printable(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return false;
    return true;
}

/* A handed object as the record describes it: a known kind, known flags,
 * and a descriptor this process really has, of the right type, that is not
 * the record's own. Its close-on-exec flag is set again. */
static int check_obj(const struct mproc__handoff_obj *o, int record_fd)
{
    struct stat st;
    bool pipe = o->kind == MPROC_OBJ_PIPE;
    if (o->kind < MPROC_OBJ_QUEUE || o->kind > MPROC_OBJ_ARRAY || o->reserved != 0 ||
        (pipe ? (o->flags & ~(MPROC__OBJ_SEND | MPROC__OBJ_RECV)) != 0 || o->flags == 0
              : o->flags != 0) ||
        o->fd < 0 || o->fd == record_fd || fstat(o->fd, &st) != 0 ||
        (pipe ? !S_ISSOCK(st.st_mode) : !S_ISREG(st.st_mode)) ||
        fcntl(o->fd, F_SETFD, FD_CLOEXEC) != 0)
        return MPROC_EPROTO;
    return 0;
}

static int read_record(int fd, pid_t ppid, struct mproc__handoff *h)
{
    struct stat st;
    if (fstat(fd, &st) < 0)
        return mproc__err();
    int seals = fcntl(fd, F_GET_SEALS);
    if (!S_ISREG(st.st_mode) || seals < 0 || !(seals & F_SEAL_WRITE))
        return MPROC_EPROTO;
    struct handoff_hdr hdr;
    char head[sizeof hdr + MPROC__ENTRY_NAME_MAX + MPROC__PROC_NAME_MAX];
    size_t file_size = (size_t)st.st_size;
    if (st.st_size < (off_t)sizeof hdr)
        return MPROC_EPROTO;
    /* One read for header, entry and name (and maybe part of the arg). */
    size_t head_len = file_size < sizeof head ? file_size : sizeof head;
    int rc = read_all(fd, head, head_len, 0);
    if (rc < 0)
        return rc;
    memcpy(&hdr, head, sizeof hdr);
    if (hdr.magic != HANDOFF_MAGIC || hdr.version != HANDOFF_VERSION)
        return MPROC_EPROTO;
    if (hdr.entry_len < 1 || hdr.entry_len > MPROC__ENTRY_NAME_MAX ||
        hdr.name_len > MPROC__PROC_NAME_MAX || hdr.arg_len > MPROC__SPAWN_ARG_MAX ||
        hdr.n_objs > MPROC_SPAWN_MAX_OBJECTS ||
        (uint64_t)file_size != sizeof hdr + hdr.entry_len + hdr.name_len + hdr.arg_len +
                                   (uint64_t)hdr.n_objs * sizeof(struct mproc__handoff_obj) ||
        hdr.ppid != ppid || (hdr.daemon != 0 && hdr.daemon != 1))
        return MPROC_EPROTO;
    /* The sizes add up to the file size, so entry and name are in head. */
    const char *entry = head + sizeof hdr, *name = entry + hdr.entry_len;
    if (!mproc__entry_name_ok(entry, hdr.entry_len) || !printable(name, hdr.name_len))
        return MPROC_EPROTO;

    memset(h, 0, sizeof *h);
    memcpy(h->entry, entry, hdr.entry_len);
    memcpy(h->name, name, hdr.name_len);
    if (hdr.arg_len > 0) {
        h->arg = malloc(hdr.arg_len);
        if (h->arg == NULL)
            return MPROC_ENOMEM;
        off_t off = (off_t)(sizeof hdr + hdr.entry_len + hdr.name_len);
        if ((rc = read_all(fd, h->arg, hdr.arg_len, off)) < 0) {
            free(h->arg);
            h->arg = NULL;
            return rc;
        }
    }
    h->arg_len = hdr.arg_len;
    if (hdr.n_objs > 0) {
        off_t off = (off_t)(sizeof hdr + hdr.entry_len + hdr.name_len + hdr.arg_len);
        h->objs = calloc(hdr.n_objs, sizeof *h->objs);
        rc = h->objs ? read_all(fd, h->objs, hdr.n_objs * sizeof *h->objs, off) : MPROC_ENOMEM;
        for (uint32_t i = 0; rc == 0 && i < hdr.n_objs; i++)
            rc = check_obj(&h->objs[i], fd);
        if (rc < 0) {
            free(h->objs);
            free(h->arg);
            h->objs = NULL;
            h->arg = NULL;
            return rc;
        }
        h->n_objs = hdr.n_objs;
    }
    h->daemon = hdr.daemon;
    h->ppid = hdr.ppid;
    h->pstart = hdr.pstart;
    return 0;
}

int mproc__spawn_receive(struct mproc__handoff *h)
{
    const char *v = getenv(MPROC__SPAWN_ENV);
    if (v == NULL)
        return 0;
    char copy[64];
    snprintf(copy, sizeof copy, "%s", v);
    unsetenv(MPROC__SPAWN_ENV);

    const char *p = copy;
    int fd = parse_int(p, ':', &p, 1 << 30);
    int ppid = fd < 0 ? -1 : parse_int(p + 1, '\0', &p, 1 << 30);
    if (fd < 0 || ppid <= 0)
        return MPROC_EPROTO;
    /* Only a sealed memfd is ours to read and close: a bogus number must
     * not make us close, say, stdin. */
    if (fcntl(fd, F_GET_SEALS) < 0)
        return MPROC_EPROTO;
    int rc = read_record(fd, (pid_t)ppid, h);
    close(fd);
    return rc < 0 ? rc : 1;
}
