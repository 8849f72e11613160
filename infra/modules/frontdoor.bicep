// Optional edge protection (issue 17): Azure Front Door (Standard) in front of the function app with a
// WAF policy whose custom rule rate-limits each client address on the public booking API, and an
// access restriction so the app only takes traffic from this Front Door profile (its X-Azure-FDID).
// Behind it the app reads the client address from X-Azure-ClientIP (setting CLIENT_IP_HEADER), which
// Front Door sets and a client cannot, since nothing else reaches the app.

param name string
param tags object
param functionAppName string
param originHostName string

@description('Requests per minute one client address may send to /api/calendars/ before Front Door answers 429.')
param rateLimitPerMinute int

resource waf 'Microsoft.Network/FrontDoorWebApplicationFirewallPolicies@2022-05-01' = {
  name: replace('waf${name}', '-', '')
  location: 'Global'
  tags: tags
  sku: {
    name: 'Standard_AzureFrontDoor'
  }
  properties: {
    policySettings: {
      enabledState: 'Enabled'
      mode: 'Prevention'
      customBlockResponseStatusCode: 429
    }
    customRules: {
      rules: [
        {
          name: 'PublicApiPerClient'
          priority: 100
          enabledState: 'Enabled'
          ruleType: 'RateLimitRule'
          rateLimitDurationInMinutes: 1
          rateLimitThreshold: rateLimitPerMinute
          groupBy: [
            {
              variableName: 'SocketAddr'
            }
          ]
          matchConditions: [
            {
              matchVariable: 'RequestUri'
              operator: 'Contains'
              matchValue: [
                '/api/calendars/'
                '/api/bookings/'
              ]
            }
          ]
          action: 'Block'
        }
      ]
    }
  }
}

resource profile 'Microsoft.Cdn/profiles@2024-02-01' = {
  name: name
  location: 'Global'
  tags: tags
  sku: {
    name: 'Standard_AzureFrontDoor'
  }
}

resource endpoint 'Microsoft.Cdn/profiles/afdEndpoints@2024-02-01' = {
  parent: profile
  name: 'ep-${name}'
  location: 'Global'
  properties: {
    enabledState: 'Enabled'
  }
}

resource originGroup 'Microsoft.Cdn/profiles/originGroups@2024-02-01' = {
  parent: profile
  name: 'app'
  properties: {
    loadBalancingSettings: {
      sampleSize: 4
      successfulSamplesRequired: 3
    }
    healthProbeSettings: {
      probePath: '/api/health'
      probeRequestType: 'GET'
      probeProtocol: 'Https'
      probeIntervalInSeconds: 120
    }
  }
}

resource origin 'Microsoft.Cdn/profiles/originGroups/origins@2024-02-01' = {
  parent: originGroup
  name: 'functionapp'
  properties: {
    hostName: originHostName
    originHostHeader: originHostName
    httpsPort: 443
    priority: 1
    weight: 1000
  }
}

resource route 'Microsoft.Cdn/profiles/afdEndpoints/routes@2024-02-01' = {
  parent: endpoint
  name: 'all'
  dependsOn: [
    origin
  ]
  properties: {
    originGroup: {
      id: originGroup.id
    }
    supportedProtocols: [
      'Https'
    ]
    patternsToMatch: [
      '/*'
    ]
    forwardingProtocol: 'HttpsOnly'
    httpsRedirect: 'Enabled'
    linkToDefaultDomain: 'Enabled'
  }
}

resource securityPolicy 'Microsoft.Cdn/profiles/securityPolicies@2024-02-01' = {
  parent: profile
  name: 'waf'
  properties: {
    parameters: {
      type: 'WebApplicationFirewall'
      wafPolicy: {
        id: waf.id
      }
      associations: [
        {
          domains: [
            {
              id: endpoint.id
            }
          ]
          patternsToMatch: [
            '/*'
          ]
        }
      ]
    }
  }
}

// Only this Front Door profile may reach the app (Microsoft's documented pattern: the AzureFrontDoor.Backend
// service tag plus the profile's id in X-Azure-FDID).
resource accessRestriction 'Microsoft.Web/sites/config@2024-04-01' = {
  name: '${functionAppName}/web'
  properties: {
    // the site's own choices again: this resource writes the whole web config
    minTlsVersion: '1.2'
    ftpsState: 'Disabled'
    ipSecurityRestrictionsDefaultAction: 'Deny'
    ipSecurityRestrictions: [
      {
        name: 'FrontDoorOnly'
        ipAddress: 'AzureFrontDoor.Backend'
        tag: 'ServiceTag'
        action: 'Allow'
        priority: 100
        headers: {
          'x-azure-fdid': [
            profile.properties.frontDoorId
          ]
        }
      }
    ]
  }
}

output hostName string = endpoint.properties.hostName
output url string = 'https://${endpoint.properties.hostName}'
