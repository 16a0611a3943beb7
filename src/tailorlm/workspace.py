"""Where things live: the ``.tailor/`` folder next to ``tailor.yaml`` and its store.

```
.tailor/
  tailor.db                      SQLite store (or any SQLAlchemy URL from workspace.store_url)
  lock, lock.json                the one-writer lock and its holder (tailorlm.lock)
  cache/                         stage cache markers
  datasets/<name>/<version>/     train/val/test.parquet, card.md, quarantine.jsonl, manifest.json
  runs/<run-id>/                 checkpoints/, metrics.jsonl, loss.png, spec.resolved.yaml
  models/<name>/<version>/       adapter or merged weights, tokenizer, model card
  reports/<eval-id>/             report.html, report.md, report.json, predictions.jsonl, plots
```
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from .spec import TailorSpec


@dataclass
class Workspace:
    root: Path
    store_url: str | None = None

    @classmethod
    def for_spec(cls, spec: TailorSpec) -> "Workspace":
        return cls(root=spec.root, store_url=spec.workspace.store_url)

    @property
    def dir(self) -> Path:
        d = self.root / ".tailor"
        d.mkdir(parents=True, exist_ok=True)
        return d

    def sub(self, *parts: str) -> Path:
        p = self.dir.joinpath(*parts)
        p.mkdir(parents=True, exist_ok=True)
        return p

    @property
    def datasets(self) -> Path:
        return self.sub("datasets")

    @property
    def runs(self) -> Path:
        return self.sub("runs")

    @property
    def models(self) -> Path:
        return self.sub("models")

    @property
    def reports(self) -> Path:
        return self.sub("reports")

    @cached_property
    def store(self):
        from .store import Store

        url = self.store_url or f"sqlite:///{self.dir / 'tailor.db'}"
        return Store(url)
