# Redis for docker-compose.yml: AOF on, never evict (vodq's keys are its
# queue), data in /data.
FROM redis:7
CMD ["redis-server", "--appendonly", "yes", "--appendfsync", "everysec", "--maxmemory-policy", "noeviction"]
