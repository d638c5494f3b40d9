/* error.c - error structs and messages. */
#include "internal.h"

#include <stdio.h>
#include <string.h>

const char *coffer_version(void) { return COFFER_VERSION_STRING; }

const char *coffer_strerror(int code)
{
    switch (code) {
    case COFFER_OK: return "success";
    case COFFER_EINVAL: return "invalid argument";
    case COFFER_ENOMEM: return "out of memory";
    case COFFER_ESYNTAX: return "invalid toml";
    case COFFER_ELIMIT: return "limit exceeded";
    case COFFER_EIO: return "cannot read source";
    case COFFER_ENOSECRETS: return "no secrets found";
    case COFFER_ENOKEY: return "key not found";
    case COFFER_ETYPE: return "wrong type";
    case COFFER_EPERM: return "unsafe permissions";
    case COFFER_ELAYOUT: return "invalid secrets directory layout";
    case COFFER_ELOCK: return "cannot lock memory";
    case COFFER_ECONFIG: return "invalid configuration";
    case COFFER_ESYS: return "system error";
    case COFFER_ECRYPTO: return "cannot decrypt";
    case COFFER_EREMOTE: return "remote source unreachable";
    case COFFER_ECONFLICT: return "concurrent write";
    default: return "unknown error";
    }
}

void coffer_error_clear(coffer_error *err)
{
    if (!err)
        return;
    err->code = 0;
    err->sys_errno = 0;
    err->line = err->column = 0;
    err->file[0] = '\0';
    err->message[0] = '\0';
}

int coffer_error_set(coffer_error *err, int code, const char *file,
                     unsigned line, unsigned col, const char *fmt, ...)
{
    if (!err)
        return code;
    err->code = code;
    err->sys_errno = 0;
    err->line = line;
    err->column = col;
    if (file)
        snprintf(err->file, sizeof err->file, "%s", file);
    else
        err->file[0] = '\0';
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return code;
}

/* True if msg quotes file ('FILE'): then the file is not repeated. */
static bool names_file(const char *msg, const char *file)
{
    size_t fl = strlen(file);
    for (const char *q = strchr(msg, '\''); q; q = strchr(q + 1, '\''))
        if (strncmp(q + 1, file, fl) == 0 && q[1 + fl] == '\'')
            return true;
    return false;
}

const char *coffer_error_format(const coffer_error *err, char *buf, size_t n)
{
    if (!buf || n == 0)
        return buf;
    if (!err) {
        buf[0] = '\0';
        return buf;
    }
    const char *msg = err->message[0] ? err->message : coffer_strerror(err->code);
    if (err->file[0] && err->line && err->column)
        snprintf(buf, n, "%s:%u:%u: %s", err->file, err->line, err->column, msg);
    else if (err->file[0] && err->line)
        snprintf(buf, n, "%s:%u: %s", err->file, err->line, msg);
    else if (err->file[0] && !names_file(msg, err->file))
        snprintf(buf, n, "%s: %s", err->file, msg);
    else if (err->line)
        snprintf(buf, n, "line %u, column %u: %s", err->line, err->column, msg);
    else
        snprintf(buf, n, "%s", msg);
    return buf;
}
