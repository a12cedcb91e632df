import os

# name lookups run on libuv's thread pool under uvloop (4 threads by default): a crawl opening connections
# to hundreds of new hosts a second needs more; read when the pool first starts, so set before anything
os.environ.setdefault("UV_THREADPOOL_SIZE", "32")

from services.enricher.app import service  # noqa: E402

if __name__ == "__main__":
    service.run()
