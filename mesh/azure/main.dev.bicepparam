// Development: smallest sizes, no zones, serverless Cosmos DB, 1 Service Bus messaging unit.
using 'main.bicep'

param environmentName = 'dev'
param publicHost = 'dev.omega.example.com'
param aksAdminGroupObjectIds = []
param systemNodeVmSize = 'Standard_D2ds_v5'
param systemNodeCount = 1
param appNodeVmSize = 'Standard_D4ds_v5'
param appNodeMinCount = 1
param appNodeMaxCount = 3
param zones = []
param serviceBusMessagingUnits = 1
param cosmosServerless = true
param redisFlavor = 'managed'
param managedRedisSku = 'Balanced_B0'
param searchSku = 'basic'
param searchReplicaCount = 1
param storageSku = 'Standard_LRS'
param auditRetentionDays = 30
param acrSku = 'Basic'
param logRetentionDays = 30
