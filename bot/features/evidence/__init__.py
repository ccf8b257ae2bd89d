"""The signed evidence archive of a release: `/bizra evidence`, and one per completed, aborted or rolled-back run."""
