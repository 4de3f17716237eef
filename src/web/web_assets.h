/* The table cmake/EmbedWeb.cmake generates from web/ (web_assets.c in the
 * build tree) and web.c reads. */
#ifndef HEARTH_WEB_ASSETS_H
#define HEARTH_WEB_ASSETS_H

#include "hearth/web.h"

extern const hearth_web_asset hearth_web_assets[];
extern const size_t hearth_web_assets_count;

#endif
