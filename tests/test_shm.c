/* test_shm.c - shared memory segments: anonymous and named, ownership,
 * hostile files at the name, fd passing. */
#include "harness.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <dirent.h>
#include <sched.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "internal.h"

static void shm_path(char *buf, size_t n, const char *name)
{
    snprintf(buf, n, "/dev/shm/mproc-%s", name);
}

static void test_name(char *buf, size_t n, const char *what)
{
    snprintf(buf, n, "t-shm-%s-%d", what, (int)getpid());
}

/* Child of the fork tests: write a pattern into the shared block. */
static int child_write(void *arg)
{
    mproc_shm *s = arg;
    memset(mproc_shm_ptr(s), 0xAB, mproc_shm_size(s));
    return 0;
}

MPROC_TEST(shm, anonymous_is_shared_across_fork)
{
    mproc_shm *s;
    MPROC_ASSERT_OK(mproc_shm_create(&s, NULL, 10000));
    cr_assert_eq(mproc_shm_size(s), 10000u);
    cr_assert_str_eq(mproc_shm_name(s), "");
    cr_assert_eq((uintptr_t)mproc_shm_ptr(s) % 128, 0u);
    unsigned char *p = mproc_shm_ptr(s);
    cr_assert_eq(p[0], 0);
    cr_assert_eq(p[9999], 0);
    int st = mproc_test_wait(mproc_test_fork(child_write, s), 5000);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    cr_assert_eq(p[0], 0xAB);
    cr_assert_eq(p[9999], 0xAB);
    MPROC_ASSERT_RC(mproc_shm_unlink(mproc_shm_name(s)), MPROC_EINVAL);
    MPROC_ASSERT_OK(mproc_shm_close(s));
}

struct open_arg {
    char name[64];
    int value;
};

static int child_open_by_name(void *arg)
{
    struct open_arg *a = arg;
    mproc_shm *s;
    if (mproc_shm_open(&s, a->name) != 0)
        return 10;
    int rc = 0;
    if (mproc_shm_size(s) != 4096 || strcmp(mproc_shm_name(s), a->name) != 0)
        rc = 11;
    if (*(int *)mproc_shm_ptr(s) != a->value)
        rc = 12;
    *(int *)mproc_shm_ptr(s) = a->value + 1;
    mproc_shm_close(s);
    return rc;
}

MPROC_TEST(shm, named_segment_is_opened_by_name_in_another_process)
{
    struct open_arg a = {.value = 4242};
    test_name(a.name, sizeof a.name, "named");
    mproc_shm *s;
    MPROC_ASSERT_OK(mproc_shm_create(&s, a.name, 4096));
    cr_assert_str_eq(mproc_shm_name(s), a.name);
    *(int *)mproc_shm_ptr(s) = a.value;
    /* The child drops the inherited mapping's meaning: it opens afresh. */
    int st = mproc_test_wait(mproc_test_fork(child_open_by_name, &a), 5000);
    cr_assert(WIFEXITED(st), "child status %d", st);
    cr_assert_eq(WEXITSTATUS(st), 0);
    cr_assert_eq(*(int *)mproc_shm_ptr(s), a.value + 1);
    MPROC_ASSERT_OK(mproc_shm_unlink(mproc_shm_name(s)));
    MPROC_ASSERT_RC(mproc_shm_unlink(mproc_shm_name(s)), MPROC_ENOENT);
    MPROC_ASSERT_OK(mproc_shm_close(s));
    mproc_shm *t;
    MPROC_ASSERT_RC(mproc_shm_open(&t, a.name), MPROC_ENOENT);
}

MPROC_TEST(shm, random_names_differ_and_are_readable)
{
    mproc_shm *a, *b;
    MPROC_ASSERT_OK(mproc_shm_create(&a, "", 100));
    MPROC_ASSERT_OK(mproc_shm_create(&b, "", 100));
    cr_assert(strlen(mproc_shm_name(a)) > 8);
    cr_assert_str_neq(mproc_shm_name(a), mproc_shm_name(b));
    mproc_shm *a2;
    MPROC_ASSERT_OK(mproc_shm_open(&a2, mproc_shm_name(a)));
    MPROC_ASSERT_OK(mproc_shm_close(a2));
    MPROC_ASSERT_OK(mproc_shm_unlink(mproc_shm_name(a)));
    MPROC_ASSERT_OK(mproc_shm_unlink(mproc_shm_name(b)));
    MPROC_ASSERT_OK(mproc_shm_close(a));
    MPROC_ASSERT_OK(mproc_shm_close(b));
}

MPROC_TEST(shm, created_with_mode_0600_whatever_the_umask)
{
    char name[64], path[128];
    test_name(name, sizeof name, "mode");
    shm_path(path, sizeof path, name);
    mode_t old = umask(0);
    mproc_shm *s;
    int rc = mproc_shm_create(&s, name, 100);
    umask(old);
    MPROC_ASSERT_OK(rc);
    struct stat st;
    cr_assert_eq(stat(path, &st), 0);
    cr_assert_eq(st.st_mode & 0777, 0600u);
    int fdfl = fcntl(mproc_shm_fd(s), F_GETFD);
    cr_assert(fdfl & FD_CLOEXEC);
    MPROC_ASSERT_OK(mproc_shm_unlink(mproc_shm_name(s)));
    MPROC_ASSERT_OK(mproc_shm_close(s));
}

MPROC_TEST(shm, create_on_existing_name_gives_eexist)
{
    char name[64];
    test_name(name, sizeof name, "excl");
    mproc_shm *s, *t;
    MPROC_ASSERT_OK(mproc_shm_create(&s, name, 100));
    MPROC_ASSERT_RC(mproc_shm_create(&t, name, 100), MPROC_EEXIST);
    MPROC_ASSERT_OK(mproc_shm_unlink(mproc_shm_name(s)));
    MPROC_ASSERT_OK(mproc_shm_close(s));
}

MPROC_TEST(shm, symlink_at_the_name_is_never_followed)
{
    char name[64], path[128], target[128];
    test_name(name, sizeof name, "link");
    shm_path(path, sizeof path, name);
    snprintf(target, sizeof target, "/dev/shm/mproc-t-shm-target-%d", (int)getpid());
    int fd = open(target, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    cr_assert(fd >= 0);
    close(fd);
    cr_assert_eq(symlink(target, path), 0);
    mproc_shm *s;
    MPROC_ASSERT_RC(mproc_shm_create(&s, name, 100), MPROC_EEXIST);
    MPROC_ASSERT_RC(mproc_shm_open(&s, name), MPROC_EACCES);
    struct stat st;
    cr_assert_eq(stat(target, &st), 0);
    cr_assert_eq(st.st_size, 0, "the symlink's target was written to");
    unlink(path);
    unlink(target);
}

/* Write a file at the name with the given bytes (a hostile or broken peer). */
static void plant(const char *name, const void *bytes, size_t n, size_t file_size)
{
    char path[128];
    shm_path(path, sizeof path, name);
    int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    cr_assert(fd >= 0);
    cr_assert_eq(ftruncate(fd, (off_t)file_size), 0);
    cr_assert_eq(pwrite(fd, bytes, n, 0), (ssize_t)n);
    close(fd);
}

static void unplant(const char *name)
{
    char path[128];
    shm_path(path, sizeof path, name);
    unlink(path);
}

MPROC_TEST(shm, foreign_file_at_the_name_gives_eforeign)
{
    char name[64];
    test_name(name, sizeof name, "foreign");
    char junk[4096];
    memset(junk, 'x', sizeof junk);
    plant(name, junk, sizeof junk, sizeof junk);
    mproc_shm *s;
    MPROC_ASSERT_RC(mproc_shm_open(&s, name), MPROC_EFOREIGN);
    unplant(name);
    /* Shorter than a header. */
    plant(name, junk, 10, 10);
    MPROC_ASSERT_RC(mproc_shm_open(&s, name), MPROC_EFOREIGN);
    unplant(name);
}

/* Create a real segment, then damage one header field through a raw
 * mapping, and see what an opener says. */
static int open_damaged(const char *what, void (*damage)(struct mproc__seg_hdr *))
{
    char name[64];
    test_name(name, sizeof name, what);
    mproc_shm *s, *t;
    cr_assert_eq(mproc_shm_create(&s, name, 4096), 0);
    struct mproc__seg_hdr *h = (struct mproc__seg_hdr *)((char *)mproc_shm_ptr(s) - 128);
    damage(h);
    int rc = mproc_shm_open(&t, name);
    if (rc == 0)
        mproc_shm_close(t);
    /* The header is damaged, so unlink by name may rightly refuse it. */
    unplant(name);
    cr_assert_eq(mproc_shm_close(s), 0);
    return rc;
}

static void bad_version(struct mproc__seg_hdr *h)
{
    h->version = 99;
}
static void bad_kind(struct mproc__seg_hdr *h)
{
    h->kind = MPROC__SEG_QUEUE;
}
static void bad_total(struct mproc__seg_hdr *h)
{
    h->total_size = 1u << 30;
}
static void bad_body(struct mproc__seg_hdr *h)
{
    h->body_size = 1u << 30;
}
static void bad_hdr_size(struct mproc__seg_hdr *h)
{
    h->hdr_size = 8;
}
static void bad_magic(struct mproc__seg_hdr *h)
{
    h->magic = 0x12345678;
}

MPROC_TEST(shm, damaged_headers_are_refused_cleanly)
{
    cr_assert_eq(open_damaged("ver", bad_version), MPROC_EVERSION);
    cr_assert_eq(open_damaged("kind", bad_kind), MPROC_EFOREIGN);
    cr_assert_eq(open_damaged("magic", bad_magic), MPROC_EFOREIGN);
    cr_assert_eq(open_damaged("total", bad_total), MPROC_ECORRUPT);
    cr_assert_eq(open_damaged("body", bad_body), MPROC_ECORRUPT);
    cr_assert_eq(open_damaged("hsize", bad_hdr_size), MPROC_ECORRUPT);
}

MPROC_TEST(shm, bad_names_are_einval_or_enametoolong)
{
    mproc_shm *s;
    MPROC_ASSERT_RC(mproc_shm_create(&s, "a/b", 10), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_shm_create(&s, "../x", 10), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_shm_create(&s, ".hidden", 10), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_shm_open(&s, ""), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_shm_open(&s, NULL), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_shm_open(&s, "x y"), MPROC_EINVAL);
    char longname[400];
    memset(longname, 'a', sizeof longname - 1);
    longname[sizeof longname - 1] = '\0';
    MPROC_ASSERT_RC(mproc_shm_create(&s, longname, 10), MPROC_ENAMETOOLONG);
    MPROC_ASSERT_RC(mproc_shm_open(&s, longname), MPROC_ENAMETOOLONG);
}

MPROC_TEST(shm, bad_arguments_are_errors)
{
    mproc_shm *s;
    MPROC_ASSERT_RC(mproc_shm_create(NULL, NULL, 10), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_shm_create(&s, NULL, 0), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_shm_from_fd(&s, -1), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_shm_from_fd(&s, 9999), MPROC_EBADF);
    MPROC_ASSERT_RC(mproc_shm_close(NULL), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_shm_unlink(NULL), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_shm_fd(NULL), MPROC_EINVAL);
    cr_assert_null(mproc_shm_ptr(NULL));
    cr_assert_eq(mproc_shm_size(NULL), 0u);
    /* An fd that is not a segment at all. */
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    MPROC_ASSERT_RC(mproc_shm_from_fd(&s, sv[0]), MPROC_EFOREIGN);
    close(sv[0]);
    close(sv[1]);
}

MPROC_TEST(shm, absurd_size_fails_cleanly_and_leaves_nothing)
{
    const size_t sizes[] = {(size_t)1 << 50, SIZE_MAX / 2 - 4096, SIZE_MAX};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        mproc_shm *s = NULL;
        int rc = mproc_shm_create(&s, "", sizes[i]);
        cr_assert(rc == MPROC_ENOSPC || rc == MPROC_ENOMEM || rc == MPROC_EINVAL,
                  "size %zu gave %s", sizes[i], mproc_err_name(rc));
        cr_assert_null(s);
        rc = mproc_shm_create(&s, NULL, sizes[i]);
        cr_assert(rc == MPROC_ENOSPC || rc == MPROC_ENOMEM || rc == MPROC_EINVAL,
                  "anonymous size %zu gave %s", sizes[i], mproc_err_name(rc));
    }
    /* The leak check at the end proves that no file was left behind. */
}

/* fd passing: the child receives the memfd over a socket and attaches. */
static int child_from_fd(void *arg)
{
    int sock = *(int *)arg;
    char c;
    struct iovec iov = {&c, 1};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } u;
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
    if (recvmsg(sock, &m, MSG_CMSG_CLOEXEC) != 1)
        return 20;
    struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
    if (cm == NULL || cm->cmsg_type != SCM_RIGHTS)
        return 21;
    int fd;
    memcpy(&fd, CMSG_DATA(cm), sizeof fd);
    mproc_shm *s;
    int rc = mproc_shm_from_fd(&s, fd);
    close(fd);
    if (rc != 0)
        return 22;
    strcpy(mproc_shm_ptr(s), "hello from the child");
    rc = mproc_shm_unlink(mproc_shm_name(s)) == MPROC_EINVAL ? 0 : 23;
    mproc_shm_close(s);
    return rc;
}

MPROC_TEST(shm, anonymous_segment_passes_as_fd_to_another_process)
{
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    pid_t pid = mproc_test_fork(child_from_fd, &sv[1]);
    /* Created after the fork: the child can only get it through the fd. */
    mproc_shm *s;
    MPROC_ASSERT_OK(mproc_shm_create(&s, NULL, 64));
    int fd = mproc_shm_fd(s);
    char c = 'x';
    struct iovec iov = {&c, 1};
    union {
        struct cmsghdr h;
        char buf[CMSG_SPACE(sizeof(int))];
    } u;
    memset(&u, 0, sizeof u);
    struct msghdr m = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&m);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &fd, sizeof fd);
    cr_assert_eq(sendmsg(sv[0], &m, MSG_NOSIGNAL), 1);
    int st = mproc_test_wait(pid, 5000);
    close(sv[0]);
    close(sv[1]);
    cr_assert(WIFEXITED(st), "status %d", st);
    cr_assert_eq(WEXITSTATUS(st), 0);
    cr_assert_str_eq(mproc_shm_ptr(s), "hello from the child");
    MPROC_ASSERT_OK(mproc_shm_close(s));
}

MPROC_TEST(shm, named_segment_attaches_from_its_fd_and_keeps_its_name)
{
    mproc_shm *s, *t;
    MPROC_ASSERT_OK(mproc_shm_create(&s, "", 100));
    MPROC_ASSERT_OK(mproc_shm_from_fd(&t, mproc_shm_fd(s)));
    cr_assert_str_eq(mproc_shm_name(t), mproc_shm_name(s));
    /* Unlink takes the name: any attached handle's name will do, once. */
    MPROC_ASSERT_OK(mproc_shm_unlink(mproc_shm_name(t)));
    MPROC_ASSERT_OK(mproc_shm_close(t));
    MPROC_ASSERT_RC(mproc_shm_unlink(mproc_shm_name(s)), MPROC_ENOENT);
    MPROC_ASSERT_OK(mproc_shm_close(s));
}

static int child_killed_after_create(void *arg)
{
    (void)arg;
    mproc_shm *s;
    if (mproc_shm_create(&s, NULL, 1 << 20) != 0)
        return 1;
    memset(mproc_shm_ptr(s), 1, 1 << 20);
    raise(SIGKILL);
    return 2;
}

MPROC_TEST(shm, anonymous_segment_leaves_nothing_after_sigkill)
{
    int before = mproc_test_shm_count();
    int st = mproc_test_wait(mproc_test_fork(child_killed_after_create, NULL), 5000);
    cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    cr_assert_eq(mproc_test_shm_count(), before);
}

MPROC_TEST(shm, from_fd_reports_a_name_only_if_it_leads_to_that_file)
{
    /* Longer than the header's copy of the name: it cannot be trusted. */
    char name[128];
    memset(name, 'n', 100);
    snprintf(name + 100, sizeof name - 100, "-%d", (int)getpid());
    mproc_shm *s, *t;
    MPROC_ASSERT_OK(mproc_shm_create(&s, name, 100));
    MPROC_ASSERT_OK(mproc_shm_from_fd(&t, mproc_shm_fd(s)));
    cr_assert_str_eq(mproc_shm_name(t), "");
    MPROC_ASSERT_OK(mproc_shm_close(t));
    MPROC_ASSERT_OK(mproc_shm_unlink(mproc_shm_name(s)));
    /* Unlinked: the name leads nowhere any more. */
    mproc_shm *u, *v;
    MPROC_ASSERT_OK(mproc_shm_create(&u, "", 100));
    MPROC_ASSERT_OK(mproc_shm_unlink(mproc_shm_name(u)));
    MPROC_ASSERT_OK(mproc_shm_from_fd(&v, mproc_shm_fd(u)));
    cr_assert_str_eq(mproc_shm_name(v), "");
    MPROC_ASSERT_OK(mproc_shm_close(v));
    MPROC_ASSERT_OK(mproc_shm_close(u));
    MPROC_ASSERT_OK(mproc_shm_close(s));
}

/* In a private mount namespace, a 1 MiB tmpfs over /dev/shm. Exit codes:
 * 0 as expected, 77 cannot set up (not root), others a failure. */
static int child_tiny_dev_shm(void *arg)
{
    (void)arg;
    if (unshare(CLONE_NEWNS) != 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0 ||
        mount("tmpfs", "/dev/shm", "tmpfs", 0, "size=1m") != 0)
        return 77;
    mproc_shm *s, *t;
    if (mproc_shm_create(&s, "big", 700 * 1024) != 0)
        return 1;
    /* Every page was reserved: touching them all cannot SIGBUS. */
    memset(mproc_shm_ptr(s), 1, mproc_shm_size(s));
    if (mproc_shm_create(&t, "more", 700 * 1024) != MPROC_ENOSPC)
        return 2;
    if (mproc_shm_create(&t, "", 2 << 20) != MPROC_ENOSPC)
        return 3;
    mproc_shm_unlink(mproc_shm_name(s));
    mproc_shm_close(s);
    /* Nothing left behind by the failures. */
    DIR *d = opendir("/dev/shm");
    int entries = 0;
    for (struct dirent *e; d && (e = readdir(d)) != NULL;)
        entries += e->d_name[0] != '.';
    if (d)
        closedir(d);
    return entries == 0 ? 0 : 4;
}

MPROC_TEST(shm, full_dev_shm_is_enospc_at_creation_never_sigbus_later)
{
    int st = mproc_test_wait(mproc_test_fork(child_tiny_dev_shm, NULL), 5000);
    cr_assert(WIFEXITED(st), "child died of signal %d", WIFSIGNALED(st) ? WTERMSIG(st) : 0);
    if (WEXITSTATUS(st) == 77)
        return; /* no private mount namespace here (needs root) */
    cr_assert_eq(WEXITSTATUS(st), 0);
}

MPROC_TEST(shm, unlink_takes_a_name_and_leaves_other_kinds_alone)
{
    char name[64];
    snprintf(name, sizeof name, "shmunl%d", (int)getpid());
    mproc_lock *l;
    MPROC_ASSERT_OK(mproc_lock_create(&l, name));
    /* A lock is not a shared-memory segment: the name stays. */
    MPROC_ASSERT_RC(mproc_shm_unlink(name), MPROC_EFOREIGN);
    MPROC_ASSERT_OK(mproc_lock_close(l));
    MPROC_ASSERT_OK(mproc_lock_unlink(name));
    MPROC_ASSERT_RC(mproc_shm_unlink(name), MPROC_ENOENT);
    MPROC_ASSERT_RC(mproc_shm_unlink("bad/name"), MPROC_EINVAL);
    MPROC_ASSERT_RC(mproc_shm_unlink(""), MPROC_EINVAL);
}
