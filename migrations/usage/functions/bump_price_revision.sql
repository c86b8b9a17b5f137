-- Raises usage.price_revision (0027) for each statement on the price catalogue
-- (usage.model_prices): the gateway keeps a busy runtime's unfolded changes priced at the
-- rates in force (usage.usage_fresh_parts, services/api-gateway/usage_daily_cache.c), and
-- prices them all again when this value moves. A row updated in the writer's transaction, as
-- usage.bump_rollup_revision's: a read sees the new value exactly when it sees the new rates.
CREATE OR REPLACE FUNCTION usage.bump_price_revision()
RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = usage, pg_temp AS $$
BEGIN
    UPDATE usage.price_revision
       SET revision = greatest(revision + 1,
                               (extract(epoch FROM clock_timestamp()) * 1000000)::bigint);
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION usage.bump_price_revision() IS
    'Trigger: raises usage.price_revision for a statement on the price catalogue, so what the gateway keeps priced is priced again.';
REVOKE ALL ON FUNCTION usage.bump_price_revision() FROM PUBLIC;
CREATE OR REPLACE TRIGGER model_prices_revision
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON usage.model_prices
    FOR EACH STATEMENT EXECUTE FUNCTION usage.bump_price_revision();
