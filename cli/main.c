/* main.c - placeholder entry point; replaced by the CLI. */
#include <stdio.h>
#include "coffer.h"
int main(void)
{
    printf("coffer %s\n", coffer_version());
    return 0;
}
