/* error.c - one table from error code to name and description.
 *
 * Codes that mirror errno are listed by name here so that mproc_err_name()
 * gives the MPROC_ spelling; their descriptions come from the same table so
 * that the text does not depend on the C library's locale.
 */
#include "internal.h"

#include <string.h>

struct err_entry {
    int code;
    const char *name;
    const char *text;
};

#define E(sym, text)                                                                               \
    {                                                                                              \
        MPROC_##sym, "MPROC_" #sym, text                                                           \
    }
static const struct err_entry err_table[] = {
    E(EPERM, "operation not permitted"),
    E(ENOENT, "no such object"),
    E(ESRCH, "no such process"),
    E(EINTR, "interrupted"),
    E(EIO, "input/output error"),
    E(EBADF, "bad file descriptor, or an invalid or closed handle"),
    E(ECHILD, "no child process to wait for, or its exit status was lost"),
    E(EAGAIN, "resource temporarily unavailable"),
    E(ENOMEM, "out of memory"),
    E(EACCES, "permission denied"),
    E(EFAULT, "bad address"),
    E(EBUSY, "busy"),
    E(EEXIST, "already exists"),
    E(EINVAL, "invalid argument"),
    E(ENFILE, "too many open files in the system"),
    E(EMFILE, "too many open files"),
    E(EFBIG, "too large"),
    E(ENOSPC, "no space left"),
    E(EPIPE, "broken pipe"),
    E(ERANGE, "out of range"),
    E(ENAMETOOLONG, "name too long"),
    E(ENOSYS, "not implemented by this kernel"),
    E(EPROTO, "protocol error"),
    E(EBADMSG, "malformed message"),
    E(EOVERFLOW, "value too large"),
    E(EMSGSIZE, "message too large"),
    E(ENOTSUP, "not supported"),
    E(ECONNRESET, "connection reset by peer"),
    E(ECONNREFUSED, "connection refused"),
    E(ETIMEDOUT, "timed out"),
    E(ECANCELED, "canceled"),
    E(EALREADY, "already done"),
    E(EOWNERDEAD, "the previous owner died holding it"),
    E(ENOTRECOVERABLE, "state not recoverable"),
    E(ECLOSED, "closed"),
    E(EBROKEN, "broken (a party died or gave up)"),
    E(EFOREIGN, "not an mproc object of the expected kind"),
    E(EVERSION, "mproc object of another ABI version"),
    E(ECORRUPT, "shared state is corrupt"),
    E(EPEERDEAD, "the peer process died"),
    E(ENOENTRY, "no entry point registered under that name"),
    E(ENOTCHILD, "not a child of this process"),
    E(ETASKFAILED, "the task failed"),
    E(EWORKERDIED, "the worker died while running the task"),
    E(ELOST, "message lost: its writer died"),
    E(ENOTOWNER, "not held by the caller"),
};
#undef E

static const struct err_entry *err_find(int code)
{
    for (size_t i = 0; i < sizeof err_table / sizeof err_table[0]; i++)
        if (err_table[i].code == code)
            return &err_table[i];
    return NULL;
}

MPROC_API const char *mproc_strerror(int err)
{
    const struct err_entry *e = err_find(err);
    if (e)
        return e->text;
    if (err == 0)
        return "success";
    return "unknown error";
}

MPROC_API const char *mproc_err_name(int err)
{
    const struct err_entry *e = err_find(err);
    if (e)
        return e->name;
    if (err == 0)
        return "MPROC_OK";
    return "MPROC_EUNKNOWN";
}

MPROC_API unsigned mproc_version(void)
{
    return MPROC_VERSION_HEX;
}

MPROC_API const char *mproc_version_string(void)
{
    return MPROC_VERSION_STRING;
}
