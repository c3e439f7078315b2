"""Models Glimpse can install from Hugging Face, for the Model Tools catalog.

BLIP checkpoints and LLaVA checkpoints are downloaded and converted here; models the OpenVINO organisation
publishes already converted (`ready`) are downloaded as they are, and the FP16 / INT8 / INT4 variants of one
model become the precisions of one library entry (`model`). Sizes are approximate; `memory_mb` is the memory
the largest step needs (converting a checkpoint loads it in float32; a ready model only runs), so a model this
machine cannot hold is flagged before anything is downloaded (`memory_warning`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache


@dataclass(frozen=True)
class CatalogEntry:
    repo_id: str
    task: str  # vqa | caption (blip) or chat
    title: str
    description: str
    download_mb: int  # weights, roughly
    family: str = "blip"
    ready: bool = False  # an OpenVINO model downloaded as it is, no conversion
    precision: str = "fp16"  # what a ready model's files are
    model: str = ""  # the library folder a ready model's variants share ("" = the repository's name)
    memory_mb: int = 0  # memory the largest step needs (0 = about twice the download)

    @property
    def folder_name(self) -> str:
        return self.model or self.repo_id.split("/")[-1]

    @property
    def needs_mb(self) -> int:
        return self.memory_mb or 2 * self.download_mb


def _ready(repo: str, model: str, title: str, description: str, sizes: dict[str, int], memory: dict[str, int]) -> list[CatalogEntry]:
    """One entry per precision of a model the OpenVINO organisation publishes as `OpenVINO/<repo>-<p>-ov`."""
    return [
        CatalogEntry(f"OpenVINO/{repo}-{p}-ov", "chat", f"{title} ({p.upper()})", description, mb, family="chat",
                     ready=True, precision=p, model=model, memory_mb=memory[p])
        for p, mb in sizes.items()
    ]


CATALOG = [
    CatalogEntry("Salesforce/blip-vqa-base", "vqa", "BLIP VQA (base)",
                 "Answers questions about photos. The best start.", 1540),
    CatalogEntry("Salesforce/blip-vqa-capfilt-large", "vqa", "BLIP VQA CapFilt (large)",
                 "Larger vision model: better answers, about 2x slower.", 1790),
    CatalogEntry("Salesforce/blip-image-captioning-base", "caption", "BLIP captioning (base)",
                 "Writes a short caption for a photo.", 990),
    CatalogEntry("Salesforce/blip-image-captioning-large", "caption", "BLIP captioning (large)",
                 "More detailed captions, about 2x slower.", 1880),
    CatalogEntry("llava-hf/llava-interleave-qwen-0.5b-hf", "chat", "LLaVA Interleave Qwen 0.5B",
                 "A small LLaVA for plain CPUs: converted here, then INT8 or INT4.", 1790, family="chat",
                 memory_mb=5000),
    CatalogEntry("llava-hf/llava-1.5-7b-hf", "chat", "LLaVA 1.5 7B",
                 "The classic LLaVA: detailed conversations; converting it needs about 30 GB of memory.", 14100,
                 family="chat", memory_mb=30000),
    *_ready("InternVL2-1B", "InternVL2-1B", "InternVL2 1B", "A small, quick chat model, converted by OpenVINO.",
            {"int4": 700, "int8": 1000, "fp16": 1900}, {"int4": 2000, "int8": 2500, "fp16": 4000}),
    *_ready("InternVL2-2B", "InternVL2-2B", "InternVL2 2B", "Better answers than 1B, still quick on a laptop.",
            {"int4": 1500, "int8": 2300, "fp16": 4400}, {"int4": 3000, "int8": 4000, "fp16": 7000}),
    *_ready("Phi-3.5-vision-instruct", "Phi-3.5-vision-instruct", "Phi-3.5 vision",
            "Microsoft's 4B model: strong on documents and charts.",
            {"int4": 2600, "int8": 4300, "fp16": 8300}, {"int4": 5000, "int8": 7000, "fp16": 12000}),
    *_ready("gemma-3-4b-it", "gemma-3-4b-it", "Gemma 3 4B", "Google's 4B model, INT4 weights.",
            {"int4": 3000}, {"int4": 6000}),
]


def find(repo_id: str) -> CatalogEntry | None:
    return next((e for e in CATALOG if e.repo_id.lower() == repo_id.lower()), None)


@lru_cache(maxsize=1)
def total_memory_mb() -> int:
    """This machine's memory in MB (read once: the catalog list asks for every entry on each refill)."""
    import psutil

    return int(psutil.virtual_memory().total / 1e6)


def memory_warning(entry: CatalogEntry, total_mb: int | None = None) -> str | None:
    """Why `entry` will not fit in this machine's memory (said before downloading it), or None."""
    total_mb = total_memory_mb() if total_mb is None else total_mb
    if entry.needs_mb <= total_mb:
        return None
    step = "running" if entry.ready else "converting"
    return (
        f"{entry.title} needs about {entry.needs_mb / 1000:.0f} GB of memory for {step}; this computer has "
        f"{total_mb / 1000:.0f} GB."
    )
