"""Which stories train, validate and test: the split policy, decided in one place (`resolve_split`)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from braintune.errors import ConfigError, DataError

log = logging.getLogger(__name__)

GROUP_CHOICES = ("shared", "all")  # training stories decided by the participants' own files


@dataclass(frozen=True)
class StoryList:
    """A dataset's named list of training stories (split.stories: NAME): its stories, whose list
    it is ("the paper's") and where it comes from (said in messages)."""

    stories: tuple[str, ...]
    whose: str
    source: str


@dataclass(frozen=True)
class SplitSettings:
    """Which stories train, validate and test (one owner for every stage that reads stories).

    test_story: heard several times; its repeats give the noise ceiling, and alignment is
        scored on it. validation_story: held out from training; brain-tuning validates on it.
    stories: "shared" trains on the stories every participant of the group heard (so the group
        decides), "all" on every story each participant heard, or the name of one of the
        dataset's story lists (ds003020: "paper", the stories of its sessions 1-5 minus test and
        validation, whoever else is in the study; a participant lacking one trains on the rest
        and a warning names the missing file). Test and validation stories never train.
    train_stories: explicit training stories instead: one list for every participant, or a
        mapping participant -> list (what a run writes into its resolved config).
    n_train_stories: train on the first k of each participant's training stories, in an order
        drawn once with order_seed (the same for every participant; a resolved config records the
        lists in that order): one k, or several (a data-efficiency study: every k is run).
    """

    test_story: str = field(default="wheretheressmoke", metadata={"help": "story whose repeats test alignment and give the noise ceiling"})
    validation_story: str = field(default="stagefright", metadata={"help": "story held out to validate brain-tuning"})
    stories: str = field(default="shared", metadata={
        "help": "training stories: 'shared' (heard by every participant of the group), 'all' (each participant's "
                "own) or one of the dataset's story lists (ds003020: 'paper', its sessions 1-5, whoever else is in "
                "the study)"})
    train_stories: list[str] | dict[str, list[str]] | None = field(default=None, metadata={
        "help": "explicit training stories (instead of `stories`)"})
    n_train_stories: list[int] | None = field(default=None, metadata={
        "help": "train on the first k of each participant's stories in a seeded order; several k: each is run "
                "(a data-efficiency study)"})
    order_seed: int = field(default=0, metadata={"help": "seed of the order whose first k stories train"})

    def __post_init__(self):
        if not self.stories.strip():
            raise ConfigError(f"stories: 'shared', 'all' or the name of a story list of the dataset, got {self.stories!r}")
        if self.test_story == self.validation_story:
            raise ConfigError(f"test_story and validation_story are both {self.test_story!r}")
        lists = (self.train_stories.values() if isinstance(self.train_stories, dict)
                 else [] if self.train_stories is None else [self.train_stories])
        for stories in lists:
            if isinstance(stories, str) or not all(isinstance(s, str) for s in stories):
                raise ConfigError(f"train_stories: lists of story names, got {self.train_stories!r}")
            held = sorted({self.test_story, self.validation_story} & set(stories))
            if held:
                raise ConfigError(f"train_stories: {held} are held out (test or validation story) and cannot train")
            if not stories:
                raise ConfigError("train_stories: name at least one story")
        if self.n_train_stories is not None and (not self.n_train_stories or min(self.n_train_stories) < 1
                                                 or len(set(self.n_train_stories)) < len(self.n_train_stories)):
            raise ConfigError(f"n_train_stories: distinct story counts >= 1, got {self.n_train_stories!r}")

    @property
    def sizes(self) -> list[int | None]:
        """The numbers of training stories a study runs (None: all of each participant's)."""
        return sorted(self.n_train_stories) if self.n_train_stories else [None]

    def resolved(self, splits: dict[str, "StorySplit"]) -> "SplitSettings":
        """These settings with the training stories of `splits` written out (one list if all agree)."""
        lists = {p: list(s.train) for p, s in splits.items()}
        distinct = {tuple(v) for v in lists.values()}
        return replace(self, train_stories=list(distinct.pop()) if len(distinct) == 1 else lists)


@dataclass(frozen=True)
class StorySplit:
    """Stories that train (brain-tuning and the alignment ridge), validate (brain-tuning) and
    test (alignment) for one participant."""

    train: list[str]
    validation: str
    test: str

    def to_dict(self) -> dict:
        return {"train": list(self.train), "validation": self.validation, "test": self.test}

    def first(self, k: int | None) -> StorySplit:
        """The split that trains on the first k training stories (all for None)."""
        return self if k is None else StorySplit(list(self.train[:k]), self.validation, self.test)


def story_list(layout_class, settings: SplitSettings) -> StoryList | None:
    """The dataset's named story list that settings.stories names (None for "shared" or "all");
    a ConfigError naming the known ones if the layout has no such list.
    layout_class: the FMRIDataset subclass of the layout (its STORY_LISTS)."""
    if settings.stories in GROUP_CHOICES:
        return None
    if settings.stories not in layout_class.STORY_LISTS:
        known = ", ".join(repr(n) for n in (*GROUP_CHOICES, *layout_class.STORY_LISTS))
        raise ConfigError(f"split.stories: {settings.stories!r} is not a story list of the {layout_class.LAYOUT} "
                          f"layout (known: {known})")
    return layout_class.STORY_LISTS[settings.stories]


def resolve_split(dataset, participants: Sequence[str], settings: SplitSettings = SplitSettings()) -> dict[str, StorySplit]:
    """The story split of each participant: the one function every stage and command calls.

    dataset: a braintune.data.fmri.FMRIDataset. participants: the group whose common stories
    define "shared" (a study's participants). settings.stories picks the training stories
    (SplitSettings). A participant lacking a story the split needs is a DataError naming the
    missing file.
    """
    participants = list(participants)
    if not participants:
        raise ConfigError("the story split needs at least one participant")
    named = story_list(type(dataset), settings) if settings.train_stories is None else None
    heard = {p: set(dataset.stories_of(p)) for p in participants}
    held = {settings.test_story, settings.validation_story}
    splits = {}
    for p in participants:
        if isinstance(settings.train_stories, dict):
            if p not in settings.train_stories:
                raise ConfigError(f"train_stories: no list for participant {p}")
            train = list(settings.train_stories[p])
        elif settings.train_stories is not None:
            train = list(settings.train_stories)
        elif named is not None:
            train = _listed_stories(dataset, p, heard[p], held, named)
        elif settings.stories == "shared":
            train = sorted(set.intersection(*heard.values()) - held)
        else:
            train = sorted(heard[p] - held)
        needed = [settings.test_story, settings.validation_story, *train]
        missing = [s for s in needed if s not in heard[p]]
        if missing:
            path = dataset.response_path(p, missing[0], must_exist=False)
            what = ("test story" if missing[0] == settings.test_story else
                    "validation story" if missing[0] == settings.validation_story else "training story")
            more = f" (and {len(missing) - 1} more: {missing[1:4]})" if len(missing) > 1 else ""
            raise DataError(f"{path}: missing; the split's {what} {missing[0]!r} has no response file for {p}{more}")
        if not train:
            raise DataError(f"{dataset.root}: no training stories for {p} besides "
                            f"{settings.test_story!r} and {settings.validation_story!r}")
        if settings.n_train_stories is not None:
            train = _seeded_order(train, settings.order_seed, isinstance(settings.train_stories, (list, dict)))
            if max(settings.n_train_stories) > len(train):
                raise ConfigError(f"split.n_train_stories: {max(settings.n_train_stories)} training stories asked, "
                                  f"but {p} has {len(train)}")
        splits[p] = StorySplit(train=train, validation=settings.validation_story, test=settings.test_story)
    return splits


def _seeded_order(stories: list[str], seed: int, given: bool) -> list[str]:
    """The training stories in the order whose first k train: drawn with `seed` from the sorted
    list, or as `given` (a resolved config's lists are already in that order)."""
    if given:
        return list(stories)
    ordered = sorted(stories)
    return [ordered[i] for i in np.random.default_rng([seed, 17]).permutation(len(ordered))]


def _listed_stories(dataset, participant: str, heard: set[str], held: set[str], named: StoryList) -> list[str]:
    """The named list's training stories (minus the `held` test and validation stories) that
    `participant` heard; those it lacks are named in a warning (ds003020's UTS04 lacks "life")."""
    listed = sorted(set(named.stories) - held)
    train = [s for s in listed if s in heard]
    missing = [s for s in listed if s not in heard]
    if not train:
        raise DataError(f"{dataset.response_path(participant, listed[0], must_exist=False).parent}: none of "
                        f"{named.whose} {len(listed)} training stories ({named.source}, e.g. {listed[0]!r}); this "
                        "story list needs the dataset's own story names ('shared' or 'all' use the stories found)")
    if missing:
        log.warning("%s: missing; %s trains on %d of %s %d stories, without %s",
                    dataset.response_path(participant, missing[0], must_exist=False), participant, len(train),
                    named.whose, len(listed), ", ".join(missing))
    return train
