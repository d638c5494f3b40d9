/*
 * cli.h - shared pieces of the coffer command-line tool.
 *
 * Invariants:
 *  - Data goes to stdout through a cli_out buffer (secure memory, written
 *    with write(2) loops and wiped); diagnostics go to stderr through
 *    cli_error()/cli_warning() and never hold a secret value.
 *  - Every cmd_<verb>() returns the process exit status (CLI_EXIT_*).
 */
#ifndef COFFER_CLI_H
#define COFFER_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "coffer.h"

enum cli_exit {
    CLI_EXIT_OK = 0,
    CLI_EXIT_PROBLEMS = 1,  /* check found problems; other failures */
    CLI_EXIT_USAGE = 2,
    CLI_EXIT_NOSECRETS = 3,
    CLI_EXIT_NOKEY = 4,     /* key not found or wrong type */
    CLI_EXIT_INVALID = 5,   /* unreadable, invalid, refused, layout, config */
    CLI_EXIT_CRYPTO = 6,    /* an encrypted value cannot be decrypted */
    CLI_EXIT_REMOTE = 7,    /* a remote source cannot be reached */
    CLI_EXIT_CONFLICT = 8,  /* push lost a compare-and-swap */
    CLI_EXIT_NOEXEC = 126,
    CLI_EXIT_NOTFOUND = 127
};

/* Global options (given before the verb). */
struct cli_global {
    char **paths;      /* -f/--file, made absolute; NULL if none */
    size_t npaths;
    bool strict;       /* --strict or COFFER_STRICT=1 */
    char *cwd;         /* absolute working directory after -C */
};
extern struct cli_global cli_g;

/* Verbs. */
int cmd_get(int argc, char **argv);
int cmd_has(int argc, char **argv);
int cmd_dump(int argc, char **argv);
int cmd_list(int argc, char **argv);
int cmd_where(int argc, char **argv);
int cmd_paths(int argc, char **argv);
int cmd_env(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_check(int argc, char **argv);
int cmd_init(int argc, char **argv);
int cmd_watch(int argc, char **argv);
int cmd_push(int argc, char **argv);
int cmd_history(int argc, char **argv);
/* encryption (crypt.c, edit.c) */
int cmd_keygen(int argc, char **argv);
int cmd_encrypt(int argc, char **argv);
int cmd_decrypt(int argc, char **argv);
int cmd_set(int argc, char **argv);
int cmd_unset(int argc, char **argv);
int cmd_edit(int argc, char **argv);
int cmd_recipients(int argc, char **argv);
int cmd_rotate(int argc, char **argv);

/* Removes the identity variables (COFFER_AGE_KEY, COFFER_AGE_KEY_FILE,
 * COFFER_AGE_PASSPHRASE) from this process's environment: for children (run, git, editors). */
void cli_strip_identity_env(void);

/* Diagnostics on stderr: "coffer: error: ...", "coffer: warning: ...". */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_warning(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Maps a COFFER_E* code to an exit status. */
int cli_exit_code(int code);
/* Prints err as "coffer: error: FILE:LINE:COL: message" and returns the
 * exit status for its code. */
int cli_fail(const coffer_error *err);

/* Usage: prints text to stdout (exit 0) or stderr (exit 2). */
int cli_usage(const char *text, bool error);
/* Per-verb option helpers. cli_is_help: -h/--help. cli_opt_value matches
 * "--name VALUE" and "--name=VALUE" (and "-s VALUE" when short is set);
 * returns 1 and sets *val, 0 if argv[*i] is another option, -1 if the
 * value is missing (message printed). */
bool cli_is_help(const char *arg);
int cli_opt_value(int argc, char **argv, int *i, const char *name,
                  const char *shortname, const char **val);
/* Rejects an unknown option: prints it and the usage on stderr; returns 2. */
int cli_bad_option(const char *arg, const char *usage);
/* The single KEY operand of a verb. cli_take_key takes argv[*i] as the key
 * ("--" makes the next word the key even if it starts with '-'); it
 * returns 0, or 2 after the message for an unknown option or a second
 * operand. cli_need_key returns 0 if the key was given, else 2 after the
 * message. */
int cli_take_key(int argc, char **argv, int *i, const char **key,
                 const char *usage);
int cli_need_key(const char *key, const char *usage);

/* Makes this process non-dumpable (no core dump, no same-user ptrace). */
void cli_harden(void);

/* Opens the store from the global options (no I/O). Returns 0 or an exit
 * status (message printed). */
int cli_store_open(coffer_store **out);
/* Opens and loads: on success *store and *snap are set (snap owned). */
int cli_load(coffer_store **store, coffer_snapshot **snap);

/* Output buffer in secure memory. Appends are no-ops after a failure;
 * cli_out_flush reports it. */
struct cli_out {
    coffer_secbuf b;
    int failed;
};
void cli_out_add(struct cli_out *o, const void *p, size_t n);
void cli_out_str(struct cli_out *o, const char *s);
void cli_out_printf(struct cli_out *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* JSON string with quotes. */
void cli_out_json(struct cli_out *o, const char *s, size_t n);
/* TOML key: bare when possible, else a quoted basic string. */
void cli_out_key(struct cli_out *o, const char *k, size_t n);
/* Formats v (coffer_value_format) and appends it. */
void cli_out_value(struct cli_out *o, const coffer_value *v, coffer_format f);
/* Writes everything to fd, wipes and empties the buffer. Returns 0, or an
 * exit status after printing a message. */
int cli_out_flush(struct cli_out *o, int fd);
void cli_out_release(struct cli_out *o);

/* write(2) until done, retrying on EINTR. Returns 0 or -1 (errno). */
int cli_write_all(int fd, const void *p, size_t n);

/* Runs "git -C dir ARGS..." hardened against the repository it looks at
 * (no fsmonitor, hooks, pager, system config or GIT_* redirection from
 * the environment, no COFFER_SECRETS) with stdin, stdout and stderr on
 * /dev/null, or stdout into out (up to outsz-1 bytes, NUL-terminated) when
 * out is not NULL. args ends with NULL. Returns the exit status, 127 if
 * git could not be run, or -1 if it was killed by a signal. */
int cli_git(const char *dir, char *const args[], char *out, size_t outsz);

/* ISO-8601 UTC time "2026-11-27T21:00:00Z" into buf (>= 32 bytes). */
void cli_now_iso(char *buf, size_t n);

/* Variable naming options shared by env and run: --prefix PREFIX,
 * --upper, --booleans, --allow-env NAME (repeatable). cli_env_option
 * consumes argv[*i] (and its value): 1 if it was one of them, 0 if not,
 * -1 after a message for a bad value. */
struct cli_env {
    coffer_env_options opt;
    const char *allow[65];
    size_t nallow;
};
#define CLI_ENV_OPTIONS_HELP \
    "  --prefix PREFIX   prepend PREFIX to every variable name (APP_)\n" \
    "  --upper           upper-case the names (db_password: DB_PASSWORD)\n" \
    "  --booleans        also export booleans, as true or false\n" \
    "  --allow-env NAME  export NAME although it is a loader, shell or\n" \
    "                    interpreter variable (PATH, LD_*, ...; see\n" \
    "                    coffer(1)); repeatable; also COFFER_ALLOW_ENV\n"
int cli_env_option(int argc, char **argv, int *i, struct cli_env *e);
/* The warning for a key that is not exported (escaped key, reason). */
void cli_env_warn(const coffer_env_item *it);

/* Self-pipe for signals: installs handlers for the given signals (list
 * ends with 0) that write the signal number into a pipe. Returns the read
 * end, or -1. With keep_ignored, a signal ignored on entry (nohup, `cmd &`)
 * stays ignored and is not caught (SIGCHLD excepted: it is caught, and
 * ignored again for children). A byte with bit 0x80 set means the kernel sent the signal
 * (e.g. ^C on the terminal, already delivered to the process group). */
int cli_signal_pipe(const int *sigs, bool keep_ignored);
/* Puts back the dispositions coffer started with: SIG_DFL, or SIG_IGN for
 * a signal that was ignored on entry (never caught by cli_signal_pipe). */
void cli_signal_restore(const int *sigs);
/* fork() with sigs blocked across it. The child gets the dispositions
 * coffer started with and no access to the pipe before any signal can
 * reach it; both then get the signal mask back. Returns as fork(). */
pid_t cli_signal_fork(const int *sigs);

#endif /* COFFER_CLI_H */
