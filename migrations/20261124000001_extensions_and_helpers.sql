-- Shared building blocks for every table: btree_gist for the booking overlap
-- exclusion constraint, and one trigger function that keeps updated_at honest.
create extension if not exists btree_gist;

create or replace function set_updated_at() returns trigger
language plpgsql as $$
begin
    new.updated_at := now();
    return new;
end;
$$;
