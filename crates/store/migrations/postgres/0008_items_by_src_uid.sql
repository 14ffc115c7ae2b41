-- Mail items of a folder by source UID: a big folder is copied in UID ranges, each range
-- reading only its own items.
CREATE INDEX items_by_src_uid ON items (migration_id, kind, src_folder, src_uid);
