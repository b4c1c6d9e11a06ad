import gc
import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

application = get_wsgi_application()

# What start-up loaded lives as long as the worker: the garbage collector's full passes
# need not walk it again. Without this a full pass took about 70 ms of some request, one in
# a few hundred (docs/benchmarks.md).
gc.freeze()
