/* no-descriptor — a shared object that is not an evbus plugin: it exports a
 * function but no evb_plugin_descriptor.  The loader must say so. */
#include <evbus/plugin.h>

EVB_PLUGIN_EXPORT int evbtest_not_a_plugin (void);

int
evbtest_not_a_plugin (void)
{
  return 42;
}
