/* no-descriptor — a shared object that is not an evbus plugin: it exports
 * a function but no evb_plugin_descriptor (tests/cli/). */
#include "evbus/plugin.h"

EVB_PLUGIN_EXPORT int no_descriptor_answer (void);

int
no_descriptor_answer (void)
{
  return 42;
}
