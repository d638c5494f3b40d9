/*
 * floor_exec.c - the floor for `coffer run -- CMD`: a C program that does
 * nothing but execvp(argv[1], argv + 1). Any wrapper that exports variables
 * and then execs needs at least this second exec; bench/bench_run.sh
 * compares `coffer run -- true` with `floor_exec true`.
 */
#include <stdio.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (argc < 2) {
        fputs("usage: floor_exec CMD [ARG...]\n", stderr);
        return 2;
    }
    execvp(argv[1], argv + 1);
    perror("floor_exec: execvp");
    return 127;
}
