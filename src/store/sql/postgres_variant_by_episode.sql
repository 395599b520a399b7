-- The episode → variant table of the TensorZero gateway's Postgres schema (its migration `variant_by_episode`),
-- created by tz-sidecar only where it is absent: the same columns and key, so an episode keeps one variant across
-- every sidecar and the gateway.
CREATE TABLE variant_by_episode (
    function_name TEXT NOT NULL,
    episode_id UUID NOT NULL,
    variant_name TEXT NOT NULL,
    PRIMARY KEY (function_name, episode_id)
);
