/* The public name of the transfer helper's resolution (transport.c), for
 * the device program's sandbox (hearth/sandbox.h): the program it keeps
 * executable is the one a transfer runs. */
#include "hearth/updater.h"
#include "transport.h"

hearth_status hearth_updater_fetch_program(char *out, size_t cap)
{
    return upd_http_fetch_program(out, cap);
}
