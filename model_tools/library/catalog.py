"""BLIP models Glimpse knows how to convert, for the Model Tools catalog."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CatalogEntry:
    repo_id: str
    task: str  # vqa | caption
    title: str
    description: str
    download_mb: int  # safetensors weights, roughly

    @property
    def folder_name(self) -> str:
        return self.repo_id.split("/")[-1]


CATALOG = [
    CatalogEntry("Salesforce/blip-vqa-base", "vqa", "BLIP VQA (base)",
                 "Answers questions about photos. The best start.", 1540),
    CatalogEntry("Salesforce/blip-vqa-capfilt-large", "vqa", "BLIP VQA CapFilt (large)",
                 "Larger vision model: better answers, about 2x slower.", 1790),
    CatalogEntry("Salesforce/blip-image-captioning-base", "caption", "BLIP captioning (base)",
                 "Writes a short caption for a photo.", 990),
    CatalogEntry("Salesforce/blip-image-captioning-large", "caption", "BLIP captioning (large)",
                 "More detailed captions, about 2x slower.", 1880),
]


def find(repo_id: str) -> CatalogEntry | None:
    return next((e for e in CATALOG if e.repo_id.lower() == repo_id.lower()), None)
