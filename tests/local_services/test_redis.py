"""RedisServer, through the redis_server fixture: started it answers, stopped it does not."""

import redis


def test_redis_server_fixture_serves_and_stops(redis_server):
    client = redis_server.client()
    client.set("painel:probe", "1")
    assert client.get("painel:probe") == b"1"
    redis_server.stop()
    try:
        client.ping()
    except redis.ConnectionError:
        pass
    else:
        raise AssertionError("redis-server still answers after stop()")
