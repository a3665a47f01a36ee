--[[
  Remove archived jobs from one finished set, as BullMQ removes a finished job
  (removeJobKeys and ZREM), but only a job that is still in the set with the score
  (finishedOn, ms) that was archived: a job retried and finished again since it was
  read has a new outcome that is not archived yet, and a job removed meanwhile (by
  another archiver, or by BullMQ's removeOnComplete/removeOnFail) is left alone.

  KEYS[1]  the finished set, <prefix>:<queue>:completed or :failed
  ARGV[1]  the queue's key prefix, <prefix>:<queue>:
  ARGV[2..] job id, score, job id, score, ...
  Returns {number removed, id of each job not removed, ...}.

  Job keys are built here, not passed as KEYS, exactly as BullMQ's own scripts do: they
  share the queue's hash tag, so this also holds on Redis Cluster.
]]
local finished = KEYS[1]
local prefix = ARGV[1]
local removed = 0
local kept = {}
for i = 2, #ARGV, 2 do
  local jobId = ARGV[i]
  local score = redis.call("ZSCORE", finished, jobId)
  if score and tonumber(score) == tonumber(ARGV[i + 1]) then
    local jobKey = prefix .. jobId
    redis.call("DEL", jobKey, jobKey .. ":logs", jobKey .. ":dependencies",
      jobKey .. ":processed", jobKey .. ":failed", jobKey .. ":unsuccessful")
    redis.call("ZREM", finished, jobId)
    removed = removed + 1
  else
    kept[#kept + 1] = jobId
  end
end
table.insert(kept, 1, removed)
return kept
