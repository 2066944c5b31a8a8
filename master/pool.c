/*
 * pool: how an on-demand worker pool grows and shrinks (pool.h). Pure
 * arithmetic on master's view, unit-tested (tests/unit/test_pool.c);
 * it must never signal, fork or read anything itself.
 */
#include "pool.h"

unsigned
pool_spawn(const struct pool_view *v)
{
	unsigned n = 0;

	if (v->alive >= v->max)
		return 0;
	if (v->alive < v->min)
		n = v->min - v->alive;
	if (n == 0 && ((v->pending == POOL_WAITING && v->idle == 0) ||
	    v->pending == POOL_STUCK))
		n = 1;
	return n > v->max - v->alive ? v->max - v->alive : n;
}

int
pool_watch(const struct pool_view *v)
{
	return v->idle == 0 && v->alive < v->max;
}

int
pool_retire(const struct pool_view *v, time_t since, time_t now,
    time_t max_idle)
{
	return v->alive > v->min && now >= since && now - since >= max_idle;
}
