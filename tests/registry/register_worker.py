"""A separate process for the concurrency tests: registers RUN_DIR as NAME COUNT times (0: until
killed), promoting each new version to the alias `staging`. Usage: ROOT DB|- RUN_DIR NAME COUNT."""

import sys

from adaptlab.registry import Registry, local_admin


def main(root: str, db: str, run_dir: str, name: str, count: int) -> None:
    worker = local_admin(f"worker-{run_dir.rsplit('/', 1)[-1]}")
    with Registry.open(root, db=None if db == "-" else db) as registry:
        done = 0
        while count == 0 or done < count:
            record = registry.register(worker, run_dir, name)
            registry.promote(worker, record.ref, "staging")
            done += 1
            print(record.version, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
